// cocotb test wrapper: the accelerator's building blocks side by side, each with its own
// ports, so that one Verilator build serves every unit test (tests/rtl/test_rtl_units.py).
// Parameters are set by the test from the hardware config.
`default_nettype none
module vta_units_tb #(
    parameter integer BATCH = 1,
    parameter integer BLOCK_IN = 8,
    parameter integer BLOCK_OUT = 8,
    parameter integer TOKEN_LATENCY = 2,
    parameter integer QUEUE_DEPTH = 3,
    parameter integer BUS_BYTES = 16,
    parameter integer MAX_BURST_BEATS = 2
) (
    input  wire clk,
    input  wire rst,
    // GEMM core
    input  wire                            g_reset,
    input  wire [BATCH*BLOCK_IN*8-1:0]     g_inp,
    input  wire [BLOCK_OUT*BLOCK_IN*8-1:0] g_wgt,
    input  wire [BATCH*BLOCK_OUT*32-1:0]   g_acc_in,
    output wire [BATCH*BLOCK_OUT*32-1:0]   g_acc_out,
    output wire [BATCH*BLOCK_OUT*8-1:0]    g_out,
    // ALU
    input  wire [2:0]                      a_op,
    input  wire [BATCH*BLOCK_OUT*32-1:0]   a_a,
    input  wire [BATCH*BLOCK_OUT*32-1:0]   a_b,
    output wire [BATCH*BLOCK_OUT*32-1:0]   a_res,
    output wire [BATCH*BLOCK_OUT*8-1:0]    a_out,
    // token counter
    input  wire                            t_push,
    input  wire                            t_pop,
    output wire                            t_avail,
    output wire [7:0]                      t_left,
    // command queue (32-bit entries)
    input  wire                            q_push,
    input  wire [31:0]                     q_data,
    input  wire                            q_pop,
    output wire [31:0]                     q_head,
    output wire                            q_empty,
    output wire                            q_full,
    // DMA read engine (padded load)
    input  wire                            d_start,
    input  wire [15:0]                     d_sram_base,
    input  wire [31:0]                     d_dram_base,
    input  wire [15:0]                     d_y_size,
    input  wire [15:0]                     d_x_size,
    input  wire [15:0]                     d_x_stride,
    input  wire [3:0]                      d_y_pad_0,
    input  wire [3:0]                      d_y_pad_1,
    input  wire [3:0]                      d_x_pad_0,
    input  wire [3:0]                      d_x_pad_1,
    input  wire [3:0]                      d_log_eb,
    output wire                            d_rd_req,
    output wire [47:0]                     d_rd_addr,
    output wire [31:0]                     d_rd_len,
    input  wire                            d_rd_valid,
    input  wire [BUS_BYTES*8-1:0]          d_rd_data,
    output wire                            d_ww_en,
    output wire [47:0]                     d_ww_addr,
    output wire [BUS_BYTES*8-1:0]          d_ww_data,
    output wire [BUS_BYTES-1:0]            d_ww_be,
    output wire                            d_pad_en,
    output wire [31:0]                     d_pad_row,
    output wire                            d_active,
    output wire                            d_mem_wait,
    output wire                            d_done
);
  localparam integer LANES = BATCH * BLOCK_OUT;

  vta_gemm_core #(.BATCH(BATCH), .BLOCK_IN(BLOCK_IN), .BLOCK_OUT(BLOCK_OUT)) u_gemm (
      .reset(g_reset), .inp(g_inp), .wgt(g_wgt), .acc_in(g_acc_in), .acc_out(g_acc_out),
      .out(g_out));

  vta_alu #(.LANES(LANES)) u_alu (
      .op(a_op), .a(a_a), .b(a_b), .res(a_res), .out(a_out));

  vta_token_counter #(.LATENCY(TOKEN_LATENCY)) u_tok (
      .clk(clk), .rst(rst), .push(t_push), .pop(t_pop), .avail(t_avail), .left(t_left));

  vta_cmd_queue #(.DEPTH(QUEUE_DEPTH), .WIDTH(32), .PTR_W($clog2(QUEUE_DEPTH)),
                  .CNT_W($clog2(QUEUE_DEPTH + 1))) u_q (
      .clk(clk), .rst(rst), .push(q_push), .push_data(q_data), .pop(q_pop), .head(q_head),
      .empty(q_empty), .full(q_full));

  vta_dma_read #(.BUS_BYTES(BUS_BYTES), .MAX_BURST_BEATS(MAX_BURST_BEATS), .ADDR_W(48)) u_dma (
      .clk(clk), .rst(rst), .start(d_start), .sram_base(d_sram_base), .dram_base(d_dram_base),
      .y_size(d_y_size), .x_size(d_x_size), .x_stride(d_x_stride), .y_pad_0(d_y_pad_0),
      .y_pad_1(d_y_pad_1), .x_pad_0(d_x_pad_0), .x_pad_1(d_x_pad_1), .log_eb(d_log_eb),
      .rd_req(d_rd_req), .rd_addr(d_rd_addr), .rd_len(d_rd_len), .rd_valid(d_rd_valid),
      .rd_data(d_rd_data), .ww_en(d_ww_en), .ww_addr(d_ww_addr), .ww_data(d_ww_data),
      .ww_be(d_ww_be), .pad_en(d_pad_en), .pad_row(d_pad_row), .active(d_active),
      .mem_wait(d_mem_wait), .done(d_done));
endmodule
`default_nettype wire
