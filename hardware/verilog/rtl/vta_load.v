// Load module: executes LOAD INP/WGT (and load-queue NOPs) one at a time, in queue order.
//
// An instruction at the queue head starts in the first cycle the module is free and its
// g2l token (pop_next) is available; it pops the token in that (decode) cycle. NOP (x_size = 0)
// and empty loads last 1 cycle; others run the DMA read engine. push_next (l2g) is asserted in
// the last cycle. Cycle classes: busy, memory (DRAM latency), token, empty.
`default_nettype none
`include "vta_params.vh"
module vta_load (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [127:0]                 head,
    input  wire                         empty,
    output wire                         pop,
    input  wire                         g2l_avail,
    output wire                         g2l_pop,
    output wire                         l2g_push,
    // memory read port
    output wire                         rd_req,
    output wire [`VTA_DRAM_ADDR_W-1:0]  rd_addr,
    output wire [31:0]                  rd_len,
    input  wire                         rd_valid,
    input  wire [`VTA_BUS_BYTES*8-1:0]  rd_data,
    // INP/WGT writes (`to_wgt` selects the buffer)
    output wire                         to_wgt,
    output wire                         ww_en,
    output wire [`VTA_DRAM_ADDR_W-1:0]  ww_addr,
    output wire [`VTA_BUS_BYTES*8-1:0]  ww_data,
    output wire [`VTA_BUS_BYTES-1:0]    ww_be,
    output wire                         pad_en,
    output wire [31:0]                  pad_row,
    // counters and trace
    output wire [63:0]                  n_busy,
    output wire [63:0]                  n_memory,
    output wire [63:0]                  n_token,
    output wire [63:0]                  n_empty,
    output reg  [63:0]                  n_insns,
    output reg  [63:0]                  n_bytes_inp,
    output reg  [63:0]                  n_bytes_wgt,
    output wire                         ev_start,
    output wire                         ev_end,
    output wire                         active   // executing an instruction
);
  reg busy, f_push_next, f_wgt;

  // verilator lint_off UNUSEDSIGNAL
  wire [127:0] h = head;  // opcode and pop_prev/push_prev are not used by this module
  // verilator lint_on UNUSEDSIGNAL
  wire h_pop_next = h[`VTA_I_POP_NEXT_LSB];
  wire h_push_next = h[`VTA_I_PUSH_NEXT_LSB];
  wire h_wgt = (h[`VTA_M_MEM_TYPE_LSB +: 3] == 3'(`VTA_MEM_WGT));
  wire [15:0] h_y = h[`VTA_M_Y_SIZE_LSB +: 16];
  wire [15:0] h_x = h[`VTA_M_X_SIZE_LSB +: 16];
  wire [3:0] h_yp0 = h[`VTA_M_Y_PAD_0_LSB +: 4];
  wire [3:0] h_yp1 = h[`VTA_M_Y_PAD_1_LSB +: 4];
  wire h_nop = (h_x == 16'd0);
  wire h_work = !h_nop && (h_y != 16'd0 || h_yp0 != 4'd0 || h_yp1 != 4'd0);
  wire [3:0] h_leb = h_wgt ? 4'(`VTA_LOG_ELEM_BYTES_WGT) : 4'(`VTA_LOG_ELEM_BYTES_INP);

  wire accept = !busy && !empty && (!h_pop_next || g2l_avail);
  wire eng_done, eng_wait;
  // verilator lint_off UNUSEDSIGNAL
  wire eng_active;
  // verilator lint_on UNUSEDSIGNAL
  wire last = (accept && !h_work) || (busy && eng_done);

  assign pop = accept;
  assign g2l_pop = accept && h_pop_next;
  assign l2g_push = last && (accept ? h_push_next : f_push_next);
  assign to_wgt = f_wgt;
  assign ev_start = accept;
  assign ev_end = last;
  assign active = busy;

  vta_dma_read #(
      .BUS_BYTES(`VTA_BUS_BYTES), .MAX_BURST_BEATS(`VTA_MAX_BURST_BEATS),
      .ADDR_W(`VTA_DRAM_ADDR_W)
  ) u_dma (
      .clk(clk), .rst(rst), .start(accept && h_work),
      .sram_base(h[`VTA_M_SRAM_BASE_LSB +: 16]), .dram_base(h[`VTA_M_DRAM_BASE_LSB +: 32]),
      .y_size(h_y), .x_size(h_x), .x_stride(h[`VTA_M_X_STRIDE_LSB +: 16]),
      .y_pad_0(h_yp0), .y_pad_1(h_yp1),
      .x_pad_0(h[`VTA_M_X_PAD_0_LSB +: 4]), .x_pad_1(h[`VTA_M_X_PAD_1_LSB +: 4]),
      .log_eb(h_leb),
      .rd_req(rd_req), .rd_addr(rd_addr), .rd_len(rd_len), .rd_valid(rd_valid),
      .rd_data(rd_data),
      .ww_en(ww_en), .ww_addr(ww_addr), .ww_data(ww_data), .ww_be(ww_be),
      .pad_en(pad_en), .pad_row(pad_row),
      .active(eng_active), .mem_wait(eng_wait), .done(eng_done)
  );

  vta_cycle_classes u_classes (
      .clk(clk), .rst(rst), .active(busy || accept), .mem_wait(busy && eng_wait), .queued(!empty),
      .n_busy(n_busy), .n_memory(n_memory), .n_token(n_token), .n_empty(n_empty)
  );

  wire [63:0] h_bytes = (64'(h_x) * 64'(h_y)) << h_leb;

  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0;
      f_push_next <= 1'b0;
      f_wgt <= 1'b0;
      n_insns <= 64'd0; n_bytes_inp <= 64'd0; n_bytes_wgt <= 64'd0;
    end else begin
      if (accept) begin
        f_push_next <= h_push_next;
        f_wgt <= h_wgt;
        busy <= h_work;
        n_insns <= n_insns + 64'd1;
        if (h_wgt) n_bytes_wgt <= n_bytes_wgt + h_bytes;
        else n_bytes_inp <= n_bytes_inp + h_bytes;
      end else if (busy && eng_done) begin
        busy <= 1'b0;
      end
    end
  end
endmodule
`default_nettype wire
