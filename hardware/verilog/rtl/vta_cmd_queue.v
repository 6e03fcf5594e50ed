// Command queue: a FIFO of 128-bit instructions between fetch and one execution module.
//
// Timing contract (docs/timing-model.md): an entry pushed in cycle d is visible at the head
// from cycle d+1; an entry popped in cycle s frees its slot for a push from cycle s+1 (`full`
// is a registered count). Push and pop may happen in the same cycle.
`default_nettype none
module vta_cmd_queue #(
    parameter integer DEPTH = 4,
    parameter integer WIDTH = 128,
    parameter integer PTR_W = 2,
    parameter integer CNT_W = 3
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             push,
    input  wire [WIDTH-1:0] push_data,
    input  wire             pop,
    output wire [WIDTH-1:0] head,
    output wire             empty,
    output wire             full
);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  reg [PTR_W-1:0] rd_ptr, wr_ptr;
  reg [CNT_W-1:0] count;

  localparam [PTR_W-1:0] LAST = PTR_W'(DEPTH - 1);
  localparam [CNT_W-1:0] CAP = CNT_W'(DEPTH);

  assign head  = mem[rd_ptr];
  assign empty = (count == '0);
  assign full  = (count == CAP);

  always @(posedge clk) begin
    if (rst) begin
      rd_ptr <= '0;
      wr_ptr <= '0;
      count  <= '0;
    end else begin
      if (push) begin
        mem[wr_ptr] <= push_data;
        wr_ptr <= (wr_ptr == LAST) ? '0 : wr_ptr + 1'b1;
      end
      if (pop) rd_ptr <= (rd_ptr == LAST) ? '0 : rd_ptr + 1'b1;
      if (push && !pop) count <= count + 1'b1;
      else if (pop && !push) count <= count - 1'b1;
    end
  end
endmodule
`default_nettype wire
