// On-chip buffer of 2**DEPTH_LOG rows of ROW_BYTES bytes (UOP, INP, WGT, ACC, fetch buffer).
//
// Ports:
// * row write (`we`): a whole row, from the compute datapath or a zero row for DMA padding;
// * row read (`raddr` -> `rdata`): combinational, so a row written in cycle c reads back new
//   in cycle c+1 (this is what gives GEMM/ALU micro-ops their sequential semantics);
// * window write (`ww_*`): PORT_BYTES bytes with byte enables at SRAM byte address `ww_addr`,
//   which must be a multiple of min(ROW_BYTES, PORT_BYTES): either a lane of one row
//   (ROW_BYTES >= PORT_BYTES) or PORT_BYTES/ROW_BYTES consecutive whole rows. DMA beats use it.
// The row write wins over the window write if both hit the same bytes (never in valid use).
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
  localparam integer DEPTH = 1 << DEPTH_LOG;
  localparam integer LOG_ROW = $clog2(ROW_BYTES);

  reg [ROW_BYTES*8-1:0] mem [0:DEPTH-1];

  assign rdata = mem[raddr];

  wire [DEPTH_LOG-1:0] wrow = ww_addr[LOG_ROW +: DEPTH_LOG];
  integer b;

  generate
    if (ROW_BYTES >= PORT_BYTES) begin : g_lane
      // The window is one lane of a row: replicate the data over all lanes, shift the enables.
      localparam integer LANES = ROW_BYTES / PORT_BYTES;
      wire [ROW_BYTES*8-1:0] row_data = {LANES{ww_data}};
      wire [ROW_BYTES-1:0] row_be;
      if (LANES == 1) begin : g_one
        assign row_be = ww_be;
      end else begin : g_many
        localparam integer LOG_PORT = $clog2(PORT_BYTES);
        wire [LOG_ROW-LOG_PORT-1:0] lane = ww_addr[LOG_PORT +: (LOG_ROW - LOG_PORT)];
        assign row_be = {{(ROW_BYTES - PORT_BYTES){1'b0}}, ww_be} << (lane * PORT_BYTES);
      end
      always @(posedge clk) begin
        if (ww_en)
          for (b = 0; b < ROW_BYTES; b = b + 1)
            if (row_be[b]) mem[wrow][b*8 +: 8] <= row_data[b*8 +: 8];
        if (we) mem[waddr] <= wdata;
      end
    end else begin : g_rows
      // The window covers ROWS consecutive rows.
      localparam integer ROWS = PORT_BYTES / ROW_BYTES;
      integer r;
      always @(posedge clk) begin
        if (ww_en)
          for (r = 0; r < ROWS; r = r + 1)
            for (b = 0; b < ROW_BYTES; b = b + 1)
              if (ww_be[r*ROW_BYTES + b])
                mem[wrow + DEPTH_LOG'(r)][b*8 +: 8] <= ww_data[(r*ROW_BYTES + b)*8 +: 8];
        if (we) mem[waddr] <= wdata;
      end
    end
  endgenerate
endmodule
`default_nettype wire
