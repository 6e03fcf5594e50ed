// Fetch: reads the instruction stream in chunks and dispatches it to the three command queues.
//
// Chunk k (FETCH_CHUNK instructions, one burst) is requested in cycle r_k (r_0 = 0, r_{k+1} =
// the cycle after the chunk's last dispatch: no read-ahead). Instruction i of a chunk has
// arrived once ceil(16(i+1)/BUS_BYTES) beats are in, i.e. from the cycle after that beat.
// At most one instruction is dispatched per cycle, in order, when it has arrived and its
// queue is not full. Dispatch rule: STORE -> store; LOAD INP/WGT -> load; others -> compute.
// Cycle classes: busy (dispatching), memory (next instruction not arrived), queue_full
// (arrived, target queue full), idle (everything dispatched).
`default_nettype none
`include "vta_params.vh"
module vta_fetch (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [31:0]                  insn_count,
    // instruction memory read port (byte addresses from 0)
    output wire                         rd_req,
    output wire [`VTA_DRAM_ADDR_W-1:0]  rd_addr,
    output wire [31:0]                  rd_len,
    input  wire                         rd_valid,
    input  wire [`VTA_BUS_BYTES*8-1:0]  rd_data,
    // command queues
    output wire [127:0]                 insn,
    output wire                         push_load,
    output wire                         push_compute,
    output wire                         push_store,
    input  wire                         full_load,
    input  wire                         full_compute,
    input  wire                         full_store,
    // counters and trace
    output reg  [63:0]                  n_busy,
    output reg  [63:0]                  n_memory,
    output reg  [63:0]                  n_queue_full,
    output reg  [63:0]                  n_idle,
    output wire                         ev_dispatch
);
  localparam integer B = `VTA_BUS_BYTES;
  localparam integer LOG_BUS = `VTA_LOG_BUS_BYTES;
  localparam integer F = `VTA_FETCH_CHUNK;
  localparam integer BUF_LOG = (F > 1) ? $clog2(F) : 1;

  reg [31:0] chunk_base, ci, beats_recv;
  reg issued;

  wire [31:0] left = insn_count - chunk_base;
  wire active = (chunk_base < insn_count);
  wire [31:0] chunk_len = (left > 32'(F)) ? 32'(F) : left;
  wire [35:0] chunk_bytes = {chunk_len, 4'd0};
  // verilator lint_off UNUSEDSIGNAL
  wire [35:0] nbeats = (chunk_bytes + 36'(B - 1)) >> LOG_BUS;  // < 2**32 beats
  // verilator lint_on UNUSEDSIGNAL
  wire [35:0] have_bytes = {4'd0, beats_recv} << LOG_BUS;
  wire [35:0] need_bytes = {ci + 32'd1, 4'd0};
  wire arrived = active && (have_bytes >= need_bytes);

  vta_sram #(
      .DEPTH_LOG(BUF_LOG), .ROW_BYTES(16), .PORT_BYTES(B), .ADDR_W(36)
  ) u_buf (
      .clk(clk),
      .we(1'b0), .waddr('0), .wdata('0),
      .raddr(ci[BUF_LOG-1:0]), .rdata(insn),
      .ww_en(rd_valid), .ww_addr(have_bytes), .ww_data(rd_data), .ww_be({B{1'b1}})
  );

  wire [2:0] opcode = insn[`VTA_I_OPCODE_LSB +: 3];
  wire [2:0] mem_type = insn[`VTA_M_MEM_TYPE_LSB +: 3];
  wire to_store = (opcode == 3'(`VTA_OP_STORE));
  wire to_load = (opcode == 3'(`VTA_OP_LOAD))
              && (mem_type == 3'(`VTA_MEM_INP) || mem_type == 3'(`VTA_MEM_WGT));
  wire to_compute = !to_store && !to_load;
  wire target_full = to_store ? full_store : (to_load ? full_load : full_compute);
  wire dispatch = arrived && !target_full;

  assign rd_req = active && !issued;
  assign rd_addr = `VTA_DRAM_ADDR_W'({chunk_base, 4'd0});
  assign rd_len = nbeats[31:0];
  assign push_load = dispatch && to_load;
  assign push_compute = dispatch && to_compute;
  assign push_store = dispatch && to_store;
  assign ev_dispatch = dispatch;

  always @(posedge clk) begin
    if (rst) begin
      chunk_base <= 32'd0;
      ci <= 32'd0;
      beats_recv <= 32'd0;
      issued <= 1'b0;
      n_busy <= 64'd0; n_memory <= 64'd0; n_queue_full <= 64'd0; n_idle <= 64'd0;
    end else begin
      if (rd_req) issued <= 1'b1;
      if (rd_valid) beats_recv <= beats_recv + 32'd1;
      if (dispatch) begin
        if (ci + 32'd1 == chunk_len) begin
          chunk_base <= chunk_base + chunk_len;
          ci <= 32'd0;
          beats_recv <= 32'd0;
          issued <= 1'b0;
        end else begin
          ci <= ci + 32'd1;
        end
      end
      if (!active) n_idle <= n_idle + 64'd1;
      else if (dispatch) n_busy <= n_busy + 64'd1;
      else if (arrived) n_queue_full <= n_queue_full + 64'd1;
      else n_memory <= n_memory + 64'd1;
    end
  end
endmodule
`default_nettype wire
