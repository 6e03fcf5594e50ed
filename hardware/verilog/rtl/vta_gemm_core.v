// GEMM core: one micro-op's BATCH x BLOCK_IN x BLOCK_OUT multiply-accumulate, combinational.
//
//   acc_out[b][o] = acc_in[b][o] + sum_i inp[b][i] * wgt[o][i]   (int8 x int8, int32 wrap)
//   out[b][o]     = low 8 bits of acc_out[b][o]
// Layouts (row-major, little-endian lanes): inp byte b*BLOCK_IN+i, wgt byte o*BLOCK_IN+i,
// acc 32-bit lane b*BLOCK_OUT+o, out byte b*BLOCK_OUT+o. `reset` yields acc_out = 0.
`default_nettype none
module vta_gemm_core #(
    parameter integer BATCH = 1,
    parameter integer BLOCK_IN = 16,
    parameter integer BLOCK_OUT = 16
) (
    input  wire                          reset,
    input  wire [BATCH*BLOCK_IN*8-1:0]   inp,
    input  wire [BLOCK_OUT*BLOCK_IN*8-1:0] wgt,
    input  wire [BATCH*BLOCK_OUT*32-1:0] acc_in,
    output wire [BATCH*BLOCK_OUT*32-1:0] acc_out,
    output wire [BATCH*BLOCK_OUT*8-1:0]  out
);
  genvar b, o;
  generate
    for (b = 0; b < BATCH; b = b + 1) begin : g_b
      for (o = 0; o < BLOCK_OUT; o = o + 1) begin : g_o
        reg signed [31:0] dot;
        integer i;
        always @(*) begin
          dot = 32'sd0;
          for (i = 0; i < BLOCK_IN; i = i + 1)
            dot = dot + 32'($signed(inp[(b*BLOCK_IN + i)*8 +: 8]) *
                            $signed(wgt[(o*BLOCK_IN + i)*8 +: 8]));
        end
        wire [31:0] sum = acc_in[(b*BLOCK_OUT + o)*32 +: 32] + dot;
        assign acc_out[(b*BLOCK_OUT + o)*32 +: 32] = reset ? 32'd0 : sum;
        assign out[(b*BLOCK_OUT + o)*8 +: 8] = sum[7:0];
      end
    end
  endgenerate
endmodule
`default_nettype wire
