// ALU: LANES independent 32-bit lanes, combinational.
//
//   res = op(a, b) with op: MIN/MAX (signed), ADD, MUL (wrap to 32 bits),
//   SHR: b >= 0 arithmetic right shift (b >= 32 gives all sign bits),
//        b <  0 left shift by -b (-b >= 32 gives 0).
// `out` is the low 8 bits of each lane. Opcode values come from the params header.
`default_nettype none
module vta_alu #(
    parameter integer LANES = 16,
    parameter integer OP_MIN = 0,
    parameter integer OP_MAX = 1,
    parameter integer OP_ADD = 2,
    parameter integer OP_SHR = 3,
    parameter integer OP_MUL = 4
) (
    input  wire [2:0]            op,
    input  wire [LANES*32-1:0]   a,
    input  wire [LANES*32-1:0]   b,
    output wire [LANES*32-1:0]   res,
    output wire [LANES*8-1:0]    out
);
  genvar l;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      wire signed [31:0] x = a[l*32 +: 32];
      wire signed [31:0] y = b[l*32 +: 32];
      wire [31:0] neg_y = 32'd0 - y;
      wire big_right = (y > 32'sd31);
      wire big_left = (neg_y > 32'd31);
      wire signed [31:0] shr = big_right ? (x >>> 31) : (x >>> y[4:0]);
      wire [31:0] shl = big_left ? 32'd0 : (x << neg_y[4:0]);
      reg [31:0] r;
      always @(*) begin
        case (32'(op))
          OP_MIN: r = (x < y) ? x : y;
          OP_MAX: r = (x > y) ? x : y;
          OP_ADD: r = x + y;
          OP_SHR: r = y[31] ? shl : shr;
          OP_MUL: r = 32'(x * y);
          default: r = x;
        endcase
      end
      assign res[l*32 +: 32] = r;
      assign out[l*8 +: 8] = r[7:0];
    end
  endgenerate
endmodule
`default_nettype wire
