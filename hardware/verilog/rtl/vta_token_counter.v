// Dependency-token counter between one pushing and one popping module.
//
// A push asserted in cycle c (the pushing instruction's last cycle, i.e. its end e = c+1)
// becomes poppable in cycle c + 1 + LATENCY = e + TOKEN_LATENCY. A pop in cycle s consumes
// one token at the end of s. `left` counts tokens held plus tokens still in flight.
`default_nettype none
module vta_token_counter #(
    parameter integer LATENCY = 1,
    parameter integer WIDTH = 8
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             push,
    input  wire             pop,
    output wire             avail,
    output wire [WIDTH-1:0] left
);
  reg [WIDTH-1:0] count;
  wire arrive;
  wire [WIDTH-1:0] in_flight;

  generate
    if (LATENCY == 0) begin : g_direct
      assign arrive = push;
      assign in_flight = '0;
    end else begin : g_delay
      reg [LATENCY-1:0] pipe;
      integer k;
      reg [WIDTH-1:0] n;
      if (LATENCY == 1) begin : g_one
        always @(posedge clk) pipe <= rst ? 1'b0 : push;
      end else begin : g_many
        always @(posedge clk) pipe <= rst ? '0 : {pipe[LATENCY-2:0], push};
      end
      always @(*) begin
        n = '0;
        for (k = 0; k < LATENCY; k = k + 1) n = n + {{(WIDTH-1){1'b0}}, pipe[k]};
      end
      assign arrive = pipe[LATENCY-1];
      assign in_flight = n;
    end
  endgenerate

  assign avail = (count != '0);
  assign left = count + in_flight;

  always @(posedge clk) begin
    if (rst) count <= '0;
    else if (arrive && !pop) count <= count + 1'b1;
    else if (pop && !arrive) count <= count - 1'b1;
  end
endmodule
`default_nettype wire
