// vtac accelerator top level: fetch, three command queues, load / compute / store, four
// dependency-token counters, and the INP / WGT / OUT buffers shared between modules
// (UOP and ACC are private to compute).
//
// Memory interface: four independent request/response ports (docs/rtl.md), driven by the
// harness's DRAM model. Read port: the module raises `*_rd_req` for one cycle with a byte
// address and a burst length in beats; the DRAM answers with `*_rd_valid` beats, one per
// cycle, starting DRAM_LATENCY cycles after the request cycle (the same cycle if 0). Write
// port: one beat per cycle with byte strobes, `wr_last` on a burst's last beat; the DRAM
// raises `wr_resp` DRAM_LATENCY cycles after that beat. Only one burst per port is in flight.
//
// Run control: instructions are fetched from instruction-memory byte 0 after reset;
// `finish` is high in the FINISH instruction's cycle (total cycles = that cycle + 1).
`default_nettype none
`include "vta_params.vh"
module vta_top (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [31:0]                  insn_count,
    output wire                         f_rd_req,
    output wire [`VTA_DRAM_ADDR_W-1:0]  f_rd_addr,
    output wire [31:0]                  f_rd_len,
    input  wire                         f_rd_valid,
    input  wire [`VTA_BUS_BYTES*8-1:0]  f_rd_data,
    output wire                         l_rd_req,
    output wire [`VTA_DRAM_ADDR_W-1:0]  l_rd_addr,
    output wire [31:0]                  l_rd_len,
    input  wire                         l_rd_valid,
    input  wire [`VTA_BUS_BYTES*8-1:0]  l_rd_data,
    output wire                         c_rd_req,
    output wire [`VTA_DRAM_ADDR_W-1:0]  c_rd_addr,
    output wire [31:0]                  c_rd_len,
    input  wire                         c_rd_valid,
    input  wire [`VTA_BUS_BYTES*8-1:0]  c_rd_data,
    output wire                         s_wr_valid,
    output wire [`VTA_DRAM_ADDR_W-1:0]  s_wr_addr,
    output wire [`VTA_BUS_BYTES*8-1:0]  s_wr_data,
    output wire [`VTA_BUS_BYTES-1:0]    s_wr_strb,
    output wire                         s_wr_last,
    input  wire                         s_wr_resp,
    output wire                         finish,
    output wire [`VTA_N_COUNTERS*64-1:0] counters,
    output wire                         ev_dispatch,
    output wire [2:0]                   ev_start,   // load, compute, store
    output wire [2:0]                   ev_end,
    output wire [2:0]                   active     // load, compute, store busy (watchdog)
);
  localparam integer B = `VTA_BUS_BYTES;
  localparam integer AW = `VTA_DRAM_ADDR_W;

  // ---------------------------------------------------------------- fetch and queues
  wire [127:0] f_insn;
  wire push_l, push_c, push_s, full_l, full_c, full_s;
  wire [127:0] head_l, head_c, head_s;
  wire empty_l, empty_c, empty_s, pop_l, pop_c, pop_s;
  wire [63:0] f_busy, f_memory, f_qfull, f_idle;

  vta_fetch u_fetch (
      .clk(clk), .rst(rst), .insn_count(insn_count),
      .rd_req(f_rd_req), .rd_addr(f_rd_addr), .rd_len(f_rd_len), .rd_valid(f_rd_valid),
      .rd_data(f_rd_data),
      .insn(f_insn), .push_load(push_l), .push_compute(push_c), .push_store(push_s),
      .full_load(full_l), .full_compute(full_c), .full_store(full_s),
      .n_busy(f_busy), .n_memory(f_memory), .n_queue_full(f_qfull), .n_idle(f_idle),
      .ev_dispatch(ev_dispatch)
  );

  vta_cmd_queue #(
      .DEPTH(`VTA_CMD_QUEUE_DEPTH), .WIDTH(128),
      .PTR_W(`VTA_CMD_QUEUE_PTR_W), .CNT_W(`VTA_CMD_QUEUE_CNT_W)
  ) u_q_load (
      .clk(clk), .rst(rst), .push(push_l), .push_data(f_insn), .pop(pop_l),
      .head(head_l), .empty(empty_l), .full(full_l)
  );
  vta_cmd_queue #(
      .DEPTH(`VTA_CMD_QUEUE_DEPTH), .WIDTH(128),
      .PTR_W(`VTA_CMD_QUEUE_PTR_W), .CNT_W(`VTA_CMD_QUEUE_CNT_W)
  ) u_q_compute (
      .clk(clk), .rst(rst), .push(push_c), .push_data(f_insn), .pop(pop_c),
      .head(head_c), .empty(empty_c), .full(full_c)
  );
  vta_cmd_queue #(
      .DEPTH(`VTA_CMD_QUEUE_DEPTH), .WIDTH(128),
      .PTR_W(`VTA_CMD_QUEUE_PTR_W), .CNT_W(`VTA_CMD_QUEUE_CNT_W)
  ) u_q_store (
      .clk(clk), .rst(rst), .push(push_s), .push_data(f_insn), .pop(pop_s),
      .head(head_s), .empty(empty_s), .full(full_s)
  );

  // ---------------------------------------------------------------- dependency tokens
  wire l2g_push, l2g_pop, l2g_avail, g2l_push, g2l_pop, g2l_avail;
  wire g2s_push, g2s_pop, g2s_avail, s2g_push, s2g_pop, s2g_avail;
  wire [7:0] l2g_left, g2l_left, g2s_left, s2g_left;

  vta_token_counter #(.LATENCY(`VTA_TOKEN_LATENCY)) u_l2g (
      .clk(clk), .rst(rst), .push(l2g_push), .pop(l2g_pop), .avail(l2g_avail), .left(l2g_left));
  vta_token_counter #(.LATENCY(`VTA_TOKEN_LATENCY)) u_g2l (
      .clk(clk), .rst(rst), .push(g2l_push), .pop(g2l_pop), .avail(g2l_avail), .left(g2l_left));
  vta_token_counter #(.LATENCY(`VTA_TOKEN_LATENCY)) u_g2s (
      .clk(clk), .rst(rst), .push(g2s_push), .pop(g2s_pop), .avail(g2s_avail), .left(g2s_left));
  vta_token_counter #(.LATENCY(`VTA_TOKEN_LATENCY)) u_s2g (
      .clk(clk), .rst(rst), .push(s2g_push), .pop(s2g_pop), .avail(s2g_avail), .left(s2g_left));

  // ---------------------------------------------------------------- load and its buffers
  wire l_to_wgt, l_ww_en, l_pad_en;
  wire [AW-1:0] l_ww_addr;
  wire [B*8-1:0] l_ww_data;
  wire [B-1:0] l_ww_be;
  // verilator lint_off UNUSEDSIGNAL
  wire [31:0] l_pad_row;  // element index; the buffers use the bits they address (wrap)
  // verilator lint_on UNUSEDSIGNAL
  wire [63:0] l_busy, l_memory, l_token, l_empty, l_insns, l_bytes_inp, l_bytes_wgt;

  vta_load u_load (
      .clk(clk), .rst(rst), .head(head_l), .empty(empty_l), .pop(pop_l),
      .g2l_avail(g2l_avail), .g2l_pop(g2l_pop), .l2g_push(l2g_push),
      .rd_req(l_rd_req), .rd_addr(l_rd_addr), .rd_len(l_rd_len), .rd_valid(l_rd_valid),
      .rd_data(l_rd_data),
      .to_wgt(l_to_wgt), .ww_en(l_ww_en), .ww_addr(l_ww_addr), .ww_data(l_ww_data),
      .ww_be(l_ww_be), .pad_en(l_pad_en), .pad_row(l_pad_row),
      .n_busy(l_busy), .n_memory(l_memory), .n_token(l_token), .n_empty(l_empty),
      .n_insns(l_insns), .n_bytes_inp(l_bytes_inp), .n_bytes_wgt(l_bytes_wgt),
      .ev_start(ev_start[0]), .ev_end(ev_end[0]), .active(active[0])
  );

  wire [`VTA_LOG_INP_DEPTH-1:0] inp_raddr;
  wire [`VTA_INP_ROW_BYTES*8-1:0] inp_rdata;
  wire [`VTA_LOG_WGT_DEPTH-1:0] wgt_raddr;
  wire [`VTA_WGT_ROW_BYTES*8-1:0] wgt_rdata;

  vta_sram #(
      .DEPTH_LOG(`VTA_LOG_INP_DEPTH), .ROW_BYTES(`VTA_INP_ROW_BYTES), .PORT_BYTES(B),
      .ADDR_W(AW)
  ) u_inp (
      .clk(clk),
      .we(l_pad_en && !l_to_wgt), .waddr(l_pad_row[`VTA_LOG_INP_DEPTH-1:0]), .wdata('0),
      .raddr(inp_raddr), .rdata(inp_rdata),
      .ww_en(l_ww_en && !l_to_wgt), .ww_addr(l_ww_addr), .ww_data(l_ww_data), .ww_be(l_ww_be)
  );
  vta_sram #(
      .DEPTH_LOG(`VTA_LOG_WGT_DEPTH), .ROW_BYTES(`VTA_WGT_ROW_BYTES), .PORT_BYTES(B),
      .ADDR_W(AW)
  ) u_wgt (
      .clk(clk),
      .we(l_pad_en && l_to_wgt), .waddr(l_pad_row[`VTA_LOG_WGT_DEPTH-1:0]), .wdata('0),
      .raddr(wgt_raddr), .rdata(wgt_rdata),
      .ww_en(l_ww_en && l_to_wgt), .ww_addr(l_ww_addr), .ww_data(l_ww_data), .ww_be(l_ww_be)
  );

  // ---------------------------------------------------------------- compute
  wire out_we;
  wire [`VTA_LOG_ACC_DEPTH-1:0] out_waddr;
  wire [`VTA_OUT_ROW_BYTES*8-1:0] out_wdata;
  wire [63:0] c_busy, c_memory, c_token, c_empty, c_insns, c_bytes_uop, c_bytes_acc;
  wire [63:0] c_bytes_acc8, c_gemm, c_alu;

  vta_compute u_compute (
      .clk(clk), .rst(rst), .head(head_c), .empty(empty_c), .pop(pop_c),
      .l2g_avail(l2g_avail), .l2g_pop(l2g_pop), .s2g_avail(s2g_avail), .s2g_pop(s2g_pop),
      .g2l_push(g2l_push), .g2s_push(g2s_push),
      .rd_req(c_rd_req), .rd_addr(c_rd_addr), .rd_len(c_rd_len), .rd_valid(c_rd_valid),
      .rd_data(c_rd_data),
      .inp_raddr(inp_raddr), .inp_rdata(inp_rdata), .wgt_raddr(wgt_raddr),
      .wgt_rdata(wgt_rdata), .out_we(out_we), .out_waddr(out_waddr), .out_wdata(out_wdata),
      .finish(finish),
      .n_busy(c_busy), .n_memory(c_memory), .n_token(c_token), .n_empty(c_empty),
      .n_insns(c_insns), .n_bytes_uop(c_bytes_uop), .n_bytes_acc(c_bytes_acc),
      .n_bytes_acc8(c_bytes_acc8), .n_gemm_uops(c_gemm), .n_alu_uops(c_alu),
      .ev_start(ev_start[1]), .ev_end(ev_end[1]), .active(active[1])
  );

  // ---------------------------------------------------------------- store and OUT
  wire [AW-1:0] out_raddr;
  wire [B*8-1:0] out_rdata;
  wire [63:0] s_busy, s_memory, s_token, s_empty, s_insns, s_bytes;

  vta_out_sram #(
      .DEPTH_LOG(`VTA_LOG_ACC_DEPTH), .ROW_BYTES(`VTA_OUT_ROW_BYTES), .PORT_BYTES(B),
      .ADDR_W(AW)
  ) u_out (
      .clk(clk), .we(out_we), .waddr(out_waddr), .wdata(out_wdata),
      .wr_addr(out_raddr), .wr_data(out_rdata)
  );

  vta_store u_store (
      .clk(clk), .rst(rst), .head(head_s), .empty(empty_s), .pop(pop_s),
      .g2s_avail(g2s_avail), .g2s_pop(g2s_pop), .s2g_push(s2g_push),
      .out_addr(out_raddr), .out_data(out_rdata),
      .wr_valid(s_wr_valid), .wr_addr(s_wr_addr), .wr_data(s_wr_data), .wr_strb(s_wr_strb),
      .wr_last(s_wr_last), .wr_resp(s_wr_resp),
      .n_busy(s_busy), .n_memory(s_memory), .n_token(s_token), .n_empty(s_empty),
      .n_insns(s_insns), .n_bytes(s_bytes),
      .ev_start(ev_start[2]), .ev_end(ev_end[2]), .active(active[2])
  );

  // ---------------------------------------------------------------- counters
  // Order: runtime/rtl_params.py COUNTER_NAMES (index 0 in the lowest 64 bits).
  assign counters = {
      56'd0, s2g_left, 56'd0, g2s_left, 56'd0, g2l_left, 56'd0, l2g_left,
      c_alu, c_gemm, s_bytes,
      c_bytes_acc8, c_bytes_acc, l_bytes_inp, l_bytes_wgt, c_bytes_uop,
      s_insns, s_empty, s_token, s_memory, s_busy,
      c_insns, c_empty, c_token, c_memory, c_busy,
      l_insns, l_empty, l_token, l_memory, l_busy,
      64'(l_insns + c_insns + s_insns), f_idle, f_qfull, f_memory, f_busy
  };
endmodule
`default_nettype wire
