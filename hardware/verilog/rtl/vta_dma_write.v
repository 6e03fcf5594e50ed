// DMA write engine: executes the data part of one STORE instruction.
//
// Started in the decode cycle s; from s+1 it streams y_size rows of x_size OUT elements to
// DRAM, each row split into bursts of at most MAX_BURST_BEATS beats, one beat per cycle, and
// after a burst's last beat waits for the write response (which the DRAM model gives L cycles
// after that beat; in the same cycle when L = 0). The next burst starts in the cycle after the
// response. `done` is high in the last cycle: the instruction lasts 1 + y*(R*L + W) cycles.
// OUT is read through a window at SRAM byte address `out_addr` (element index << log_eb).
`default_nettype none
module vta_dma_write #(
    parameter integer BUS_BYTES = 8,
    parameter integer MAX_BURST_BEATS = 16,
    parameter integer LOG_EB = 4,
    parameter integer ADDR_W = 48
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire                   start,
    input  wire [15:0]            sram_base,
    input  wire [31:0]            dram_base,
    input  wire [15:0]            y_size,
    input  wire [15:0]            x_size,
    input  wire [15:0]            x_stride,
    // OUT window read
    output wire [ADDR_W-1:0]      out_addr,
    input  wire [BUS_BYTES*8-1:0] out_data,
    // memory write port
    output wire                   wr_valid,
    output wire [ADDR_W-1:0]      wr_addr,
    output wire [BUS_BYTES*8-1:0] wr_data,
    output wire [BUS_BYTES-1:0]   wr_strb,
    output wire                   wr_last,
    input  wire                   wr_resp,
    // status
    output wire                   active,
    output wire                   mem_wait,
    output wire                   done
);
  localparam integer LOG_BUS = $clog2(BUS_BYTES);
  localparam [1:0] S_IDLE = 2'd0, S_WR = 2'd1, S_RESP = 2'd2;

  reg [1:0] state;
  reg [15:0] f_y, f_x, f_stride;
  reg [15:0] y_idx;
  reg [ADDR_W-1:0] row_dram, row_sram;
  reg [31:0] k, burst_end;

  wire [31:0] row_bytes = {16'd0, f_x} << LOG_EB;
  wire [31:0] beats_per_row = (row_bytes + 32'(BUS_BYTES - 1)) >> LOG_BUS;
  wire [31:0] k_bytes = k << LOG_BUS;
  wire [31:0] rem = row_bytes - k_bytes;
  wire last_of_burst = (k + 32'd1 == burst_end);
  wire last_of_row = (k + 32'd1 == beats_per_row);
  wire last_row = (y_idx + 16'd1 == f_y);
  wire in_wr = (state == S_WR);
  // The response that ends the current burst (same cycle as its last beat when L = 0).
  wire resp_now = (in_wr && last_of_burst && wr_resp) || (state == S_RESP && wr_resp);
  wire [31:0] next_k = last_of_row ? 32'd0 : k + 32'd1;   // k after the burst's last beat
  wire [31:0] k_after = (state == S_RESP) ? k : next_k;

  assign out_addr = row_sram + ADDR_W'(k_bytes);
  assign wr_valid = in_wr;
  assign wr_addr = row_dram + ADDR_W'(k_bytes);
  assign wr_data = out_data;
  assign wr_strb = (rem >= 32'(BUS_BYTES)) ? {BUS_BYTES{1'b1}}
                 : ~({BUS_BYTES{1'b1}} << rem[LOG_BUS:0]);
  assign wr_last = in_wr && last_of_burst;
  assign active = (state != S_IDLE);
  assign mem_wait = (state == S_RESP);
  // In S_RESP the row/burst counters already point past the finished burst.
  wire finished_all = (state == S_RESP) ? (k == 32'd0 && y_idx == f_y)
                                        : (last_of_row && last_row);
  assign done = resp_now && finished_all;

  function automatic [31:0] burst_end_from(input [31:0] kk, input [31:0] bpr);
    burst_end_from = (bpr - kk > 32'(MAX_BURST_BEATS)) ? kk + 32'(MAX_BURST_BEATS) : bpr;
  endfunction

  always @(posedge clk) begin
    if (rst) begin
      state <= S_IDLE;
    end else if (start) begin
      f_y <= y_size; f_x <= x_size; f_stride <= x_stride;
      y_idx <= 16'd0;
      k <= 32'd0;
      row_dram <= ADDR_W'(dram_base) << LOG_EB;
      row_sram <= ADDR_W'(sram_base) << LOG_EB;
      burst_end <= burst_end_from(32'd0, ((({16'd0, x_size} << LOG_EB)
                                           + 32'(BUS_BYTES - 1)) >> LOG_BUS));
      state <= S_WR;
    end else begin
      if (in_wr) begin
        k <= next_k;
        if (last_of_row) begin
          y_idx <= y_idx + 16'd1;
          row_dram <= row_dram + (ADDR_W'(f_stride) << LOG_EB);
          row_sram <= row_sram + (ADDR_W'(f_x) << LOG_EB);
        end
        if (last_of_burst && !wr_resp) state <= S_RESP;
      end
      if (resp_now) begin
        if (finished_all) state <= S_IDLE;
        else begin
          state <= S_WR;
          burst_end <= burst_end_from(k_after, beats_per_row);
        end
      end
    end
  end
endmodule
`default_nettype wire
