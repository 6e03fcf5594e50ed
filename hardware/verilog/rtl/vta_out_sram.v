// OUT buffer: int8 results written a row at a time by compute, read by store in bus-wide
// windows. `wr_addr` is an SRAM byte address that is a multiple of min(ROW_BYTES, PORT_BYTES):
// a lane of one row, or PORT_BYTES/ROW_BYTES consecutive rows (combinational read).
// Rows are banked (row r in bank r % BANKS) so that each bank has one write and one read port.
`default_nettype none
module vta_out_sram #(
    parameter integer DEPTH_LOG = 4,
    parameter integer ROW_BYTES = 16,
    parameter integer PORT_BYTES = 8,
    parameter integer ADDR_W = 32
) (
    input  wire                    clk,
    input  wire                    we,
    input  wire [DEPTH_LOG-1:0]    waddr,
    input  wire [ROW_BYTES*8-1:0]  wdata,
    // verilator lint_off UNUSEDSIGNAL
    input  wire [ADDR_W-1:0]       wr_addr,  // window read address; high bits wrap around
    // verilator lint_on UNUSEDSIGNAL
    output wire [PORT_BYTES*8-1:0] wr_data
);
  localparam integer LOG_ROW = $clog2(ROW_BYTES);
  localparam integer RB = ROW_BYTES * 8;
  localparam integer BANKS = (PORT_BYTES > ROW_BYTES) ? PORT_BYTES / ROW_BYTES : 1;
  localparam integer LOG_BANKS = $clog2(BANKS);
  localparam integer BANK_LOG = DEPTH_LOG - LOG_BANKS;

  wire [DEPTH_LOG-1:0] row = wr_addr[LOG_ROW +: DEPTH_LOG];

  generate
    if (BANKS == 1) begin : g_one_bank
      reg [RB-1:0] mem [0:(1 << DEPTH_LOG)-1];
      always @(posedge clk) if (we) mem[waddr] <= wdata;
      wire [RB-1:0] r = mem[row];
      if (ROW_BYTES == PORT_BYTES) begin : g_full
        assign wr_data = r;
      end else begin : g_lane
        localparam integer LOG_PORT = $clog2(PORT_BYTES);
        wire [LOG_ROW-LOG_PORT-1:0] lane = wr_addr[LOG_PORT +: (LOG_ROW - LOG_PORT)];
        assign wr_data = r[lane*PORT_BYTES*8 +: PORT_BYTES*8];
      end
    end else begin : g_banks
      wire [RB-1:0] bank_rdata [0:BANKS-1];
      genvar j, k;
      for (j = 0; j < BANKS; j = j + 1) begin : g_bank
        wire [LOG_BANKS-1:0] kk = LOG_BANKS'(j) - row[LOG_BANKS-1:0];
        // verilator lint_off UNUSEDSIGNAL
        wire [DEPTH_LOG-1:0] rr = row + DEPTH_LOG'(kk);  // its low bits are the bank number
        // verilator lint_on UNUSEDSIGNAL
        reg [RB-1:0] mem [0:(1 << BANK_LOG)-1];
        always @(posedge clk)
          if (we && waddr[LOG_BANKS-1:0] == LOG_BANKS'(j)) mem[waddr[DEPTH_LOG-1:LOG_BANKS]] <= wdata;
        assign bank_rdata[j] = mem[rr[DEPTH_LOG-1:LOG_BANKS]];
      end
      // Segment k of the window is row `row + k`, held by bank (row + k) % BANKS.
      for (k = 0; k < BANKS; k = k + 1) begin : g_seg
        wire [LOG_BANKS-1:0] bank = row[LOG_BANKS-1:0] + LOG_BANKS'(k);
        assign wr_data[k*RB +: RB] = bank_rdata[bank];
      end
    end
  endgenerate
endmodule
`default_nettype wire
