// On-chip buffer of 2**DEPTH_LOG rows of ROW_BYTES bytes (UOP, INP, WGT, ACC, fetch buffer).
//
// Ports:
// * row write (`we`): a whole row, from the compute datapath or a zero row for DMA padding;
// * row read (`raddr` -> `rdata`): combinational, so a row written in cycle c reads back new
//   in cycle c+1 (this is what gives GEMM/ALU micro-ops their sequential semantics);
// * window write (`ww_*`): PORT_BYTES bytes with byte enables at SRAM byte address `ww_addr`,
//   which must be a multiple of min(ROW_BYTES, PORT_BYTES): either a lane of one row
//   (ROW_BYTES >= PORT_BYTES) or PORT_BYTES/ROW_BYTES consecutive whole rows. DMA beats use it.
// The row write and the window write are never used in the same cycle (the row write wins).
//
// Structure: BANKS = max(1, PORT_BYTES/ROW_BYTES) banks, row r in bank r % BANKS, so that a
// window of consecutive rows touches each bank once. Every bank has one write port with byte
// enables and one combinational read port: it maps to distributed RAM (LUTRAM).
`default_nettype none
module vta_sram #(
    parameter integer DEPTH_LOG = 4,
    parameter integer ROW_BYTES = 16,
    parameter integer PORT_BYTES = 8,
    parameter integer ADDR_W = 32
) (
    input  wire                     clk,
    input  wire                     we,
    input  wire [DEPTH_LOG-1:0]     waddr,
    input  wire [ROW_BYTES*8-1:0]   wdata,
    input  wire [DEPTH_LOG-1:0]     raddr,
    output wire [ROW_BYTES*8-1:0]   rdata,
    input  wire                     ww_en,
    // verilator lint_off UNUSEDSIGNAL
    input  wire [ADDR_W-1:0]        ww_addr,  // high bits beyond the buffer wrap around
    // verilator lint_on UNUSEDSIGNAL
    input  wire [PORT_BYTES*8-1:0]  ww_data,
    input  wire [PORT_BYTES-1:0]    ww_be
);
  localparam integer LOG_ROW = $clog2(ROW_BYTES);
  localparam integer RB = ROW_BYTES * 8;
  localparam integer BANKS = (PORT_BYTES > ROW_BYTES) ? PORT_BYTES / ROW_BYTES : 1;
  localparam integer LOG_BANKS = $clog2(BANKS);
  localparam integer BANK_LOG = DEPTH_LOG - LOG_BANKS;

  wire [DEPTH_LOG-1:0] wrow = ww_addr[LOG_ROW +: DEPTH_LOG];

  generate
    if (BANKS == 1) begin : g_one_bank
      // The window is one lane of a row: replicate the data over all lanes, shift the enables.
      localparam integer LANES = ROW_BYTES / PORT_BYTES;
      wire [RB-1:0] win_data = {LANES{ww_data}};
      wire [ROW_BYTES-1:0] win_be;
      if (LANES == 1) begin : g_full
        assign win_be = ww_be;
      end else begin : g_lanes
        localparam integer LOG_PORT = $clog2(PORT_BYTES);
        wire [LOG_ROW-LOG_PORT-1:0] lane = ww_addr[LOG_PORT +: (LOG_ROW - LOG_PORT)];
        assign win_be = {{(ROW_BYTES - PORT_BYTES){1'b0}}, ww_be} << (lane * PORT_BYTES);
      end
      wire wen = we || ww_en;
      wire [DEPTH_LOG-1:0] wa = we ? waddr : wrow;
      wire [RB-1:0] wd = we ? wdata : win_data;
      wire [ROW_BYTES-1:0] wbe = we ? {ROW_BYTES{1'b1}} : win_be;
      reg [RB-1:0] mem [0:(1 << DEPTH_LOG)-1];
      integer b;
      always @(posedge clk)
        if (wen)
          for (b = 0; b < ROW_BYTES; b = b + 1)
            if (wbe[b]) mem[wa][b*8 +: 8] <= wd[b*8 +: 8];
      assign rdata = mem[raddr];
    end else begin : g_banks
      wire [RB-1:0] bank_rdata [0:BANKS-1];
      genvar j;
      for (j = 0; j < BANKS; j = j + 1) begin : g_bank
        // Window: row wrow + k lands in this bank for k = (j - wrow) mod BANKS.
        wire [LOG_BANKS-1:0] k = LOG_BANKS'(j) - wrow[LOG_BANKS-1:0];
        // verilator lint_off UNUSEDSIGNAL
        wire [DEPTH_LOG-1:0] win_row = wrow + DEPTH_LOG'(k);  // its low bits are the bank number
        // verilator lint_on UNUSEDSIGNAL
        wire row_hit = we && (waddr[LOG_BANKS-1:0] == LOG_BANKS'(j));
        wire wen = row_hit || (!we && ww_en);
        wire [BANK_LOG-1:0] wa = row_hit ? waddr[DEPTH_LOG-1:LOG_BANKS]
                                         : win_row[DEPTH_LOG-1:LOG_BANKS];
        wire [RB-1:0] wd = row_hit ? wdata : ww_data[k*RB +: RB];
        wire [ROW_BYTES-1:0] wbe = row_hit ? {ROW_BYTES{1'b1}} : ww_be[k*ROW_BYTES +: ROW_BYTES];
        reg [RB-1:0] mem [0:(1 << BANK_LOG)-1];
        integer b;
        always @(posedge clk)
          if (wen)
            for (b = 0; b < ROW_BYTES; b = b + 1)
              if (wbe[b]) mem[wa][b*8 +: 8] <= wd[b*8 +: 8];
        assign bank_rdata[j] = mem[raddr[DEPTH_LOG-1:LOG_BANKS]];
      end
      assign rdata = bank_rdata[raddr[LOG_BANKS-1:0]];
    end
  endgenerate
endmodule
`default_nettype wire
