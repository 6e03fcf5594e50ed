// Store module: executes STORE (and store-queue NOPs) one at a time, in queue order.
//
// Pops g2s (pop_prev) in its decode cycle, pushes s2g (push_prev) in its last cycle.
// NOP (x_size = 0) and y_size = 0 stores last 1 cycle; others run the DMA write engine.
`default_nettype none
`include "vta_params.vh"
module vta_store (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [127:0]                 head,
    input  wire                         empty,
    output wire                         pop,
    input  wire                         g2s_avail,
    output wire                         g2s_pop,
    output wire                         s2g_push,
    // OUT window read
    output wire [`VTA_DRAM_ADDR_W-1:0]  out_addr,
    input  wire [`VTA_BUS_BYTES*8-1:0]  out_data,
    // memory write port
    output wire                         wr_valid,
    output wire [`VTA_DRAM_ADDR_W-1:0]  wr_addr,
    output wire [`VTA_BUS_BYTES*8-1:0]  wr_data,
    output wire [`VTA_BUS_BYTES-1:0]    wr_strb,
    output wire                         wr_last,
    input  wire                         wr_resp,
    // counters and trace
    output wire [63:0]                  n_busy,
    output wire [63:0]                  n_memory,
    output wire [63:0]                  n_token,
    output wire [63:0]                  n_empty,
    output reg  [63:0]                  n_insns,
    output reg  [63:0]                  n_bytes,
    output wire                         ev_start,
    output wire                         ev_end,
    output wire                         active   // executing an instruction
);
  reg busy, f_push_prev;

  // verilator lint_off UNUSEDSIGNAL
  wire [127:0] h = head;  // opcode, mem_type, pads and pop_next/push_next are unused here
  wire eng_active;
  // verilator lint_on UNUSEDSIGNAL
  wire h_pop_prev = h[`VTA_I_POP_PREV_LSB];
  wire h_push_prev = h[`VTA_I_PUSH_PREV_LSB];
  wire [15:0] h_y = h[`VTA_M_Y_SIZE_LSB +: 16];
  wire [15:0] h_x = h[`VTA_M_X_SIZE_LSB +: 16];
  wire h_work = (h_x != 16'd0) && (h_y != 16'd0);

  wire accept = !busy && !empty && (!h_pop_prev || g2s_avail);
  wire eng_done, eng_wait;
  wire last = (accept && !h_work) || (busy && eng_done);

  assign pop = accept;
  assign g2s_pop = accept && h_pop_prev;
  assign s2g_push = last && (accept ? h_push_prev : f_push_prev);
  assign ev_start = accept;
  assign ev_end = last;
  assign active = busy;

  vta_dma_write #(
      .BUS_BYTES(`VTA_BUS_BYTES), .MAX_BURST_BEATS(`VTA_MAX_BURST_BEATS),
      .LOG_EB(`VTA_LOG_ELEM_BYTES_OUT), .ADDR_W(`VTA_DRAM_ADDR_W)
  ) u_dma (
      .clk(clk), .rst(rst), .start(accept && h_work),
      .sram_base(h[`VTA_M_SRAM_BASE_LSB +: 16]), .dram_base(h[`VTA_M_DRAM_BASE_LSB +: 32]),
      .y_size(h_y), .x_size(h_x), .x_stride(h[`VTA_M_X_STRIDE_LSB +: 16]),
      .out_addr(out_addr), .out_data(out_data),
      .wr_valid(wr_valid), .wr_addr(wr_addr), .wr_data(wr_data), .wr_strb(wr_strb),
      .wr_last(wr_last), .wr_resp(wr_resp),
      .active(eng_active), .mem_wait(eng_wait), .done(eng_done)
  );

  vta_cycle_classes u_classes (
      .clk(clk), .rst(rst), .active(busy || accept), .mem_wait(busy && eng_wait), .queued(!empty),
      .n_busy(n_busy), .n_memory(n_memory), .n_token(n_token), .n_empty(n_empty)
  );

  wire [63:0] h_bytes = (64'(h_x) * 64'(h_y)) << `VTA_LOG_ELEM_BYTES_OUT;

  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0;
      f_push_prev <= 1'b0;
      n_insns <= 64'd0; n_bytes <= 64'd0;
    end else begin
      if (accept) begin
        f_push_prev <= h_push_prev;
        busy <= h_work;
        n_insns <= n_insns + 64'd1;
        n_bytes <= n_bytes + h_bytes;
      end else if (busy && eng_done) begin
        busy <= 1'b0;
      end
    end
  end
endmodule
`default_nettype wire
