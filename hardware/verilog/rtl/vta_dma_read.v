// DMA read engine with zero padding: executes the data part of one LOAD instruction.
//
// Started in the instruction's decode cycle s (the caller latches nothing; this module
// latches the fields). From cycle s+1 it reads y_size rows; each row is split into bursts of at
// most MAX_BURST_BEATS beats with one burst outstanding: a burst requested in cycle c delivers
// its beats in cycles c+L ... (L = the DRAM model's latency), and the next burst is requested in
// the cycle after the previous burst's last beat. Then it writes one zero element per cycle for
// every padding element (top rows, the left/right pads of each data row, bottom rows). `done`
// is high in the last cycle, so the instruction lasts 1 + y*(R*L + W) + P cycles.
//
// Outputs per beat: a window write of BUS_BYTES bytes at byte address `ww_addr`, in the SRAM's
// byte space measured in DRAM elements (element index << log_eb); the caller maps it to its
// buffer (ACC_8BIT widens each byte to 32 bits). Padding: `pad_en` with element index `pad_row`.
`default_nettype none
module vta_dma_read #(
    parameter integer BUS_BYTES = 8,
    parameter integer MAX_BURST_BEATS = 16,
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
    input  wire [3:0]             y_pad_0,
    input  wire [3:0]             y_pad_1,
    input  wire [3:0]             x_pad_0,
    input  wire [3:0]             x_pad_1,
    input  wire [3:0]             log_eb,      // log2 bytes of one DRAM element
    // memory read port
    output wire                   rd_req,
    output wire [ADDR_W-1:0]      rd_addr,
    output wire [31:0]            rd_len,
    input  wire                   rd_valid,
    input  wire [BUS_BYTES*8-1:0] rd_data,
    // SRAM writes
    output wire                   ww_en,
    output wire [ADDR_W-1:0]      ww_addr,
    output wire [BUS_BYTES*8-1:0] ww_data,
    output wire [BUS_BYTES-1:0]   ww_be,
    output wire                   pad_en,
    output wire [31:0]            pad_row,
    // status
    output wire                   active,
    output wire                   mem_wait,
    output wire                   done
);
  localparam integer LOG_BUS = $clog2(BUS_BYTES);
  localparam [2:0] S_IDLE = 3'd0, S_RD = 3'd1, S_TOP = 3'd2, S_MID = 3'd3, S_BOT = 3'd4;

  reg [2:0] state;
  reg [15:0] f_sram, f_y, f_x, f_stride;
  reg [3:0] f_yp0, f_yp1, f_xp0, f_xp1, f_leb;

  // Derived from the latched fields.
  wire [31:0] xtot = {16'd0, f_x} + {28'd0, f_xp0} + {28'd0, f_xp1};
  wire [31:0] row_bytes = {16'd0, f_x} << f_leb;
  wire [31:0] beats_per_row = (row_bytes + 32'(BUS_BYTES - 1)) >> LOG_BUS;
  wire [4:0] xpads = {1'b0, f_xp0} + {1'b0, f_xp1};
  wire mid_any = (f_y != 16'd0) && (xpads != 5'd0);
  wire [2:0] first_pad = (f_yp0 != 4'd0) ? S_TOP : (mid_any ? S_MID : S_BOT);
  wire pad_any = (f_yp0 != 4'd0) || (f_yp1 != 4'd0) || mid_any;

  // Row loop state.
  reg [15:0] y_idx;
  reg [ADDR_W-1:0] row_dram;   // byte address of the current DRAM row
  reg [ADDR_W-1:0] row_sram;   // byte address (element space) of the current SRAM row
  reg [31:0] k;                // beat index within the row
  reg issued;
  reg [31:0] burst_end_q;

  wire [31:0] burst_end_new = (beats_per_row - k > 32'(MAX_BURST_BEATS))
                              ? k + 32'(MAX_BURST_BEATS) : beats_per_row;
  wire [31:0] burst_end = issued ? burst_end_q : burst_end_new;
  wire in_rd = (state == S_RD);
  wire beat = in_rd && rd_valid;
  wire last_of_burst = (k + 32'd1 == burst_end);
  wire last_of_row = (k + 32'd1 == beats_per_row);
  wire last_row = (y_idx + 16'd1 == f_y);
  wire [31:0] k_bytes = k << LOG_BUS;
  wire [31:0] rem = row_bytes - k_bytes;

  assign rd_req = in_rd && !issued;
  assign rd_addr = row_dram + ADDR_W'(k_bytes);
  assign rd_len = burst_end_new - k;
  assign ww_en = beat;
  assign ww_addr = row_sram + ADDR_W'(k_bytes);
  assign ww_data = rd_data;
  assign ww_be = (rem >= 32'(BUS_BYTES)) ? {BUS_BYTES{1'b1}}
               : ~({BUS_BYTES{1'b1}} << rem[LOG_BUS:0]);

  // Padding walk.
  reg [31:0] pad_cnt;      // TOP/BOT: element within the block; MID: j within the row's pads
  reg [15:0] mid_y;
  reg [31:0] mid_base;     // first element of the current data row (incl. its left pad)
  wire [31:0] top_len = {28'd0, f_yp0} * xtot;
  wire [31:0] bot_len = {28'd0, f_yp1} * xtot;
  wire [31:0] bot_base = {16'd0, f_sram} + ({28'd0, f_yp0} + {16'd0, f_y}) * xtot;
  wire [31:0] mid_j = (pad_cnt < {28'd0, f_xp0}) ? pad_cnt : pad_cnt + {16'd0, f_x};
  wire in_pad = (state == S_TOP) || (state == S_MID) || (state == S_BOT);
  wire top_last = (pad_cnt + 32'd1 == top_len);
  wire mid_row_last = (pad_cnt + 32'd1 == {27'd0, xpads});
  wire mid_last = mid_row_last && (mid_y + 16'd1 == f_y);
  wire bot_last = (pad_cnt + 32'd1 == bot_len);
  wire [2:0] after_top = mid_any ? S_MID : ((f_yp1 != 4'd0) ? S_BOT : S_IDLE);
  wire [2:0] after_mid = (f_yp1 != 4'd0) ? S_BOT : S_IDLE;

  assign pad_en = in_pad;
  assign pad_row = (state == S_TOP) ? {16'd0, f_sram} + pad_cnt
                 : (state == S_MID) ? mid_base + mid_j
                 : bot_base + pad_cnt;

  assign active = (state != S_IDLE);
  assign mem_wait = in_rd && !rd_valid;
  assign done = (beat && last_of_row && last_row && !pad_any)
             || (state == S_TOP && top_last && after_top == S_IDLE)
             || (state == S_MID && mid_last && after_mid == S_IDLE)
             || (state == S_BOT && bot_last);

  wire [31:0] start_xtot = {16'd0, x_size} + {28'd0, x_pad_0} + {28'd0, x_pad_1};
  wire [31:0] start_row_elem = {16'd0, sram_base} + {28'd0, y_pad_0} * start_xtot
                              + {28'd0, x_pad_0};
  wire start_mid_any = (y_size != 16'd0) && (x_pad_0 != 4'd0 || x_pad_1 != 4'd0);

  always @(posedge clk) begin
    if (rst) begin
      state <= S_IDLE;
      issued <= 1'b0;
    end else if (start) begin
      f_sram <= sram_base; f_y <= y_size; f_x <= x_size; f_stride <= x_stride;
      f_yp0 <= y_pad_0; f_yp1 <= y_pad_1; f_xp0 <= x_pad_0; f_xp1 <= x_pad_1; f_leb <= log_eb;
      y_idx <= 16'd0;
      k <= 32'd0;
      issued <= 1'b0;
      row_dram <= ADDR_W'(dram_base) << log_eb;
      row_sram <= ADDR_W'(start_row_elem) << log_eb;
      pad_cnt <= 32'd0;
      mid_y <= 16'd0;
      mid_base <= {16'd0, sram_base} + {28'd0, y_pad_0} * start_xtot;
      if (y_size != 16'd0) state <= S_RD;
      else if (y_pad_0 != 4'd0) state <= S_TOP;
      else if (start_mid_any) state <= S_MID;
      else state <= S_BOT;  // the caller starts us only when there is work
    end else begin
      case (state)
        S_RD: begin
          if (rd_req && !(beat && last_of_burst)) begin
            issued <= 1'b1;
            burst_end_q <= burst_end_new;
          end
          if (beat) begin
            if (last_of_burst) issued <= 1'b0;
            if (last_of_row) begin
              k <= 32'd0;
              y_idx <= y_idx + 16'd1;
              row_dram <= row_dram + (ADDR_W'(f_stride) << f_leb);
              row_sram <= row_sram + (ADDR_W'(xtot) << f_leb);
              if (last_row) state <= pad_any ? first_pad : S_IDLE;
            end else begin
              k <= k + 32'd1;
            end
          end
        end
        S_TOP: begin
          pad_cnt <= pad_cnt + 32'd1;
          if (top_last) begin
            pad_cnt <= 32'd0;
            state <= after_top;
          end
        end
        S_MID: begin
          pad_cnt <= pad_cnt + 32'd1;
          if (mid_row_last) begin
            pad_cnt <= 32'd0;
            mid_y <= mid_y + 16'd1;
            mid_base <= mid_base + xtot;
            if (mid_last) state <= after_mid;
          end
        end
        S_BOT: begin
          pad_cnt <= pad_cnt + 32'd1;
          if (bot_last) state <= S_IDLE;
        end
        default: ;
      endcase
    end
  end
endmodule
`default_nettype wire
