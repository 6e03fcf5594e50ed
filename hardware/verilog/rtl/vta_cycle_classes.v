// Cycle classes of one execution module (load, compute, store), as the timing model's table:
// every cycle counts exactly once, as
//   memory: executing and waiting on memory (a DMA cycle without a beat / awaiting the response)
//   busy:   otherwise executing, or starting an instruction this cycle
//   token:  idle with an instruction at the queue head that waits for its tokens
//   empty:  idle with an empty queue
`default_nettype none
module vta_cycle_classes (
    input  wire        clk,
    input  wire        rst,
    input  wire        active,    // executing an instruction, or starting one, this cycle
    input  wire        mem_wait,  // executing and waiting on memory (implies active)
    input  wire        queued,    // an instruction waits at the queue head
    output reg  [63:0] n_busy,
    output reg  [63:0] n_memory,
    output reg  [63:0] n_token,
    output reg  [63:0] n_empty
);
  always @(posedge clk) begin
    if (rst) begin
      n_busy <= 64'd0; n_memory <= 64'd0; n_token <= 64'd0; n_empty <= 64'd0;
    end else if (mem_wait) n_memory <= n_memory + 64'd1;
    else if (active) n_busy <= n_busy + 64'd1;
    else if (queued) n_token <= n_token + 64'd1;
    else n_empty <= n_empty + 64'd1;
  end
endmodule
`default_nettype wire
