// OUT buffer: int8 results written a row at a time by compute, read by store in bus-wide
// windows. `wr_addr` is an SRAM byte address that is a multiple of min(ROW_BYTES, PORT_BYTES):
// a lane of one row, or PORT_BYTES/ROW_BYTES consecutive rows (combinational read).
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
  localparam integer DEPTH = 1 << DEPTH_LOG;
  localparam integer LOG_ROW = $clog2(ROW_BYTES);

  reg [ROW_BYTES*8-1:0] mem [0:DEPTH-1];
  wire [DEPTH_LOG-1:0] row = wr_addr[LOG_ROW +: DEPTH_LOG];

  always @(posedge clk) if (we) mem[waddr] <= wdata;

  generate
    if (ROW_BYTES >= PORT_BYTES) begin : g_lane
      if (ROW_BYTES == PORT_BYTES) begin : g_one
        assign wr_data = mem[row];
      end else begin : g_many
        localparam integer LOG_PORT = $clog2(PORT_BYTES);
        wire [LOG_ROW-LOG_PORT-1:0] lane = wr_addr[LOG_PORT +: (LOG_ROW - LOG_PORT)];
        wire [ROW_BYTES*8-1:0] r = mem[row];
        assign wr_data = r[lane*PORT_BYTES*8 +: PORT_BYTES*8];
      end
    end else begin : g_rows
      localparam integer ROWS = PORT_BYTES / ROW_BYTES;
      genvar k;
      for (k = 0; k < ROWS; k = k + 1) begin : g_row
        assign wr_data[k*ROW_BYTES*8 +: ROW_BYTES*8] = mem[row + DEPTH_LOG'(k)];
      end
    end
  endgenerate
endmodule
`default_nettype wire
