// Compute module: LOAD UOP/ACC/ACC_8BIT, GEMM, ALU, FINISH (and compute NOPs), in queue order.
//
// Start rule as for every module: free, head visible, every requested token available (pop_prev
// = l2g, pop_next = s2g); tokens are popped in the start cycle and pushed (push_prev = g2l,
// push_next = g2s) in the last cycle. Durations (docs/timing-model.md):
//   LOAD: 1 + y*(R*L + W) + P via the DMA read engine (1 if x_size = 0 or nothing to do);
//   GEMM: max(1, n + GEMM_PIPELINE): decode cycle, n micro-op cycles, GEMM_PIPELINE-1 tail;
//   ALU:  max(1, n + ALU_PIPELINE) (immediate) or max(1, 2n + ALU_PIPELINE) (tensor: the
//         source row and the destination row are read through the one ACC port);
//   FINISH: 1.
// Micro-ops execute in loop order, one per cycle, reading and writing the ACC row in the same
// cycle (combinational read, write at the clock edge), so back-to-back micro-ops on the same
// row see each other's results.
`default_nettype none
`include "vta_params.vh"
module vta_compute (
    input  wire                         clk,
    input  wire                         rst,
    input  wire [127:0]                 head,
    input  wire                         empty,
    output wire                         pop,
    input  wire                         l2g_avail,
    output wire                         l2g_pop,
    input  wire                         s2g_avail,
    output wire                         s2g_pop,
    output wire                         g2l_push,
    output wire                         g2s_push,
    // memory read port (UOP, ACC, ACC_8BIT)
    output wire                         rd_req,
    output wire [`VTA_DRAM_ADDR_W-1:0]  rd_addr,
    output wire [31:0]                  rd_len,
    input  wire                         rd_valid,
    input  wire [`VTA_BUS_BYTES*8-1:0]  rd_data,
    // INP / WGT reads, OUT writes
    output wire [`VTA_LOG_INP_DEPTH-1:0] inp_raddr,
    input  wire [`VTA_INP_ROW_BYTES*8-1:0] inp_rdata,
    output wire [`VTA_LOG_WGT_DEPTH-1:0] wgt_raddr,
    input  wire [`VTA_WGT_ROW_BYTES*8-1:0] wgt_rdata,
    output wire                         out_we,
    output wire [`VTA_LOG_ACC_DEPTH-1:0] out_waddr,
    output wire [`VTA_OUT_ROW_BYTES*8-1:0] out_wdata,
    // run control, counters and trace
    output wire                         finish,
    output wire [63:0]                  n_busy,
    output wire [63:0]                  n_memory,
    output wire [63:0]                  n_token,
    output wire [63:0]                  n_empty,
    output reg  [63:0]                  n_insns,
    output reg  [63:0]                  n_bytes_uop,
    output reg  [63:0]                  n_bytes_acc,
    output reg  [63:0]                  n_bytes_acc8,
    output reg  [63:0]                  n_gemm_uops,
    output reg  [63:0]                  n_alu_uops,
    output wire                         ev_start,
    output wire                         ev_end,
    output wire                         active   // executing an instruction
);
  localparam integer B = `VTA_BUS_BYTES;
  localparam integer ACC_RB = `VTA_ACC_ROW_BYTES;
  localparam integer LANES = `VTA_BATCH * `VTA_BLOCK_OUT;
  localparam integer UOP_D = `VTA_LOG_UOP_DEPTH;
  localparam integer ACC_D = `VTA_LOG_ACC_DEPTH;
  localparam integer AW = `VTA_DRAM_ADDR_W;
  localparam [2:0] S_IDLE = 3'd0, S_DMA = 3'd1, S_GEMM = 3'd2, S_ALU = 3'd3, S_TAIL = 3'd4;

  // ---------------------------------------------------------------- head decode
  // verilator lint_off UNUSEDSIGNAL
  wire [127:0] h = head;  // not every bit is a field of every instruction kind
  // verilator lint_on UNUSEDSIGNAL
  wire [2:0] h_op = h[`VTA_I_OPCODE_LSB +: 3];
  wire h_pop_prev = h[`VTA_I_POP_PREV_LSB];
  wire h_pop_next = h[`VTA_I_POP_NEXT_LSB];
  wire h_push_prev = h[`VTA_I_PUSH_PREV_LSB];
  wire h_push_next = h[`VTA_I_PUSH_NEXT_LSB];
  wire h_is_load = (h_op == 3'(`VTA_OP_LOAD));
  wire h_is_gemm = (h_op == 3'(`VTA_OP_GEMM));
  wire h_is_alu = (h_op == 3'(`VTA_OP_ALU));
  wire h_is_finish = (h_op == 3'(`VTA_OP_FINISH));
  // memory fields
  wire [2:0] h_mem = h[`VTA_M_MEM_TYPE_LSB +: 3];
  wire [15:0] h_y = h[`VTA_M_Y_SIZE_LSB +: 16];
  wire [15:0] h_x = h[`VTA_M_X_SIZE_LSB +: 16];
  wire [3:0] h_yp0 = h[`VTA_M_Y_PAD_0_LSB +: 4];
  wire [3:0] h_yp1 = h[`VTA_M_Y_PAD_1_LSB +: 4];
  wire h_dma = h_is_load && (h_x != 16'd0) && (h_y != 16'd0 || h_yp0 != 4'd0 || h_yp1 != 4'd0);
  wire h_uop = (h_mem == 3'(`VTA_MEM_UOP));
  wire h_acc8 = (h_mem == 3'(`VTA_MEM_ACC_8BIT));
  wire [3:0] h_leb = h_uop ? 4'(`VTA_LOG_ELEM_BYTES_UOP)
                   : (h_acc8 ? 4'(`VTA_LOG_ELEM_BYTES_ACC_8BIT) : 4'(`VTA_LOG_ELEM_BYTES_ACC));
  // loop fields (GEMM and ALU share the positions of the loop header)
  wire [UOP_D-1:0] h_ubgn = h[`VTA_G_UOP_BGN_LSB +: `VTA_G_UOP_BGN_W];
  wire [UOP_D:0] h_uend = h[`VTA_G_UOP_END_LSB +: `VTA_G_UOP_END_W];
  wire [13:0] h_iout = h[`VTA_G_ITER_OUT_LSB +: 14];
  wire [13:0] h_iin = h[`VTA_G_ITER_IN_LSB +: 14];
  wire h_zero_n = (h_iout == 14'd0) || (h_iin == 14'd0) || (h_uend <= {1'b0, h_ubgn});
  wire [31:0] h_tail = h_is_gemm ? 32'(`VTA_GEMM_PIPELINE - 1) : 32'(`VTA_ALU_PIPELINE - 1);

  // ---------------------------------------------------------------- control
  reg [2:0] state;
  reg f_push_prev, f_push_next, f_reset, f_use_imm, f_uop, f_acc8, phase;
  reg [2:0] f_alu_op;
  reg [31:0] f_imm;
  reg [UOP_D-1:0] f_ubgn;
  reg [UOP_D:0] f_uend;
  reg [13:0] f_iout, f_iin;
  reg [31:0] f_dfo, f_dfi, f_sfo, f_sfi, f_wfo, f_wfi;
  reg [UOP_D:0] u;
  reg [13:0] it_i, it_o;
  reg [31:0] dst_row, dst_off, src_row, src_off, wgt_row, wgt_off;
  reg [31:0] tail_left;
  reg [LANES*32-1:0] src_q;

  wire tokens_ok = (!h_pop_prev || l2g_avail) && (!h_pop_next || s2g_avail);
  wire accept = (state == S_IDLE) && !empty && tokens_ok;
  wire h_loop = h_is_gemm || h_is_alu;
  wire one_cycle = !(h_dma || (h_loop && !(h_zero_n && h_tail == 32'd0)));

  wire eng_done, eng_wait;
  wire in_loop = (state == S_GEMM) || (state == S_ALU);
  // A micro-op completes this cycle (tensor ALU: in its second cycle).
  wire step = (state == S_GEMM) || (state == S_ALU && (f_use_imm || phase));
  wire last_uop = (u + 1'b1 == f_uend) && (it_i + 14'd1 == f_iin) && (it_o + 14'd1 == f_iout);
  wire loop_tail_zero = (state == S_GEMM) ? (`VTA_GEMM_PIPELINE == 1) : (`VTA_ALU_PIPELINE == 1);
  wire last = (accept && one_cycle)
           || (state == S_DMA && eng_done)
           || (step && last_uop && loop_tail_zero)
           || (state == S_TAIL && tail_left == 32'd1);

  assign pop = accept;
  assign l2g_pop = accept && h_pop_prev;
  assign s2g_pop = accept && h_pop_next;
  assign g2l_push = last && (accept ? h_push_prev : f_push_prev);
  assign g2s_push = last && (accept ? h_push_next : f_push_next);
  assign finish = accept && h_is_finish;
  assign ev_start = accept;
  assign ev_end = last;
  assign active = (state != S_IDLE);

  // ---------------------------------------------------------------- buffers and datapath
  // Row indices are computed at 32 bits; each buffer uses the bits it addresses (wrap).
  // verilator lint_off UNUSEDSIGNAL
  wire [31:0] uop_word;  // bits above the three fields are unused at some configs
  wire [31:0] cur_dst = 32'(uop_word[`VTA_U_DST_LSB +: `VTA_U_DST_W]) + dst_off;
  wire [31:0] cur_src = 32'(uop_word[`VTA_U_SRC_LSB +: `VTA_U_SRC_W]) + src_off;
  wire [31:0] cur_wgt = 32'(uop_word[`VTA_U_WGT_LSB +: `VTA_U_WGT_W]) + wgt_off;
  // verilator lint_on UNUSEDSIGNAL

  wire dma_ww_en, dma_pad_en;
  wire [AW-1:0] dma_ww_addr;
  wire [B*8-1:0] dma_ww_data;
  wire [B-1:0] dma_ww_be;
  // verilator lint_off UNUSEDSIGNAL
  wire [31:0] dma_pad_row;
  wire eng_active;
  // verilator lint_on UNUSEDSIGNAL

  vta_dma_read #(
      .BUS_BYTES(B), .MAX_BURST_BEATS(`VTA_MAX_BURST_BEATS), .ADDR_W(AW)
  ) u_dma (
      .clk(clk), .rst(rst), .start(accept && h_dma),
      .sram_base(h[`VTA_M_SRAM_BASE_LSB +: 16]), .dram_base(h[`VTA_M_DRAM_BASE_LSB +: 32]),
      .y_size(h_y), .x_size(h_x), .x_stride(h[`VTA_M_X_STRIDE_LSB +: 16]),
      .y_pad_0(h_yp0), .y_pad_1(h_yp1),
      .x_pad_0(h[`VTA_M_X_PAD_0_LSB +: 4]), .x_pad_1(h[`VTA_M_X_PAD_1_LSB +: 4]),
      .log_eb(h_leb),
      .rd_req(rd_req), .rd_addr(rd_addr), .rd_len(rd_len), .rd_valid(rd_valid),
      .rd_data(rd_data),
      .ww_en(dma_ww_en), .ww_addr(dma_ww_addr), .ww_data(dma_ww_data), .ww_be(dma_ww_be),
      .pad_en(dma_pad_en), .pad_row(dma_pad_row),
      .active(eng_active), .mem_wait(eng_wait), .done(eng_done)
  );

  vta_sram #(
      .DEPTH_LOG(UOP_D), .ROW_BYTES(4), .PORT_BYTES(B), .ADDR_W(AW)
  ) u_uop (
      .clk(clk),
      .we(dma_pad_en && f_uop), .waddr(dma_pad_row[UOP_D-1:0]), .wdata(32'd0),
      .raddr(u[UOP_D-1:0]), .rdata(uop_word),
      .ww_en(dma_ww_en && f_uop), .ww_addr(dma_ww_addr), .ww_data(dma_ww_data),
      .ww_be(dma_ww_be)
  );

  // ACC window writes: 4*B bytes. ACC loads place their B bytes at the right offset inside an
  // aligned window; ACC_8BIT loads sign-extend each DRAM byte to a 32-bit lane.
  localparam integer GW = (ACC_RB < 4 * B) ? ACC_RB : 4 * B;
  localparam integer LOG_GW = $clog2(GW);
  wire [4*B*8-1:0] acc8_data;
  wire [4*B-1:0] acc8_be;
  genvar gb;
  generate
    for (gb = 0; gb < B; gb = gb + 1) begin : g_sext
      assign acc8_data[gb*32 +: 32] = {{24{dma_ww_data[gb*8 + 7]}}, dma_ww_data[gb*8 +: 8]};
      assign acc8_be[gb*4 +: 4] = {4{dma_ww_be[gb]}};
    end
  endgenerate
  wire [LOG_GW-1:0] acc_off = dma_ww_addr[LOG_GW-1:0];
  wire [AW-1:0] acc_ww_addr = f_acc8 ? (dma_ww_addr << 2)
                                     : (dma_ww_addr & ~AW'(GW - 1));
  wire [4*B*8-1:0] acc_ww_data = f_acc8 ? acc8_data : {4{dma_ww_data}};
  wire [4*B-1:0] acc_ww_be = f_acc8 ? acc8_be
                                    : ({{(3*B){1'b0}}, dma_ww_be} << acc_off);

  wire [ACC_D-1:0] acc_raddr = (state == S_ALU && !f_use_imm && !phase)
                             ? cur_src[ACC_D-1:0] : cur_dst[ACC_D-1:0];
  wire [LANES*32-1:0] acc_rdata;
  wire [LANES*32-1:0] gemm_acc;
  wire [LANES*8-1:0] gemm_out;
  wire [LANES*32-1:0] alu_res;
  wire [LANES*8-1:0] alu_out;
  wire gemm_step = step && (state == S_GEMM);
  wire alu_step = step && (state == S_ALU);

  vta_sram #(
      .DEPTH_LOG(ACC_D), .ROW_BYTES(ACC_RB), .PORT_BYTES(4 * B), .ADDR_W(AW)
  ) u_acc (
      .clk(clk),
      .we(gemm_step || alu_step || (dma_pad_en && !f_uop)),
      .waddr(in_loop ? cur_dst[ACC_D-1:0] : dma_pad_row[ACC_D-1:0]),
      .wdata(gemm_step ? gemm_acc : (alu_step ? alu_res : '0)),
      .raddr(acc_raddr), .rdata(acc_rdata),
      .ww_en(dma_ww_en && !f_uop), .ww_addr(acc_ww_addr), .ww_data(acc_ww_data),
      .ww_be(acc_ww_be)
  );

  vta_gemm_core #(
      .BATCH(`VTA_BATCH), .BLOCK_IN(`VTA_BLOCK_IN), .BLOCK_OUT(`VTA_BLOCK_OUT)
  ) u_gemm (
      .reset(f_reset), .inp(inp_rdata), .wgt(wgt_rdata), .acc_in(acc_rdata),
      .acc_out(gemm_acc), .out(gemm_out)
  );

  vta_alu #(
      .LANES(LANES), .OP_MIN(`VTA_ALU_MIN), .OP_MAX(`VTA_ALU_MAX), .OP_ADD(`VTA_ALU_ADD),
      .OP_SHR(`VTA_ALU_SHR), .OP_MUL(`VTA_ALU_MUL)
  ) u_alu (
      .op(f_alu_op), .a(acc_rdata), .b(f_use_imm ? {LANES{f_imm}} : src_q),
      .res(alu_res), .out(alu_out)
  );

  assign inp_raddr = cur_src[`VTA_LOG_INP_DEPTH-1:0];
  assign wgt_raddr = cur_wgt[`VTA_LOG_WGT_DEPTH-1:0];
  assign out_we = (gemm_step && !f_reset) || alu_step;
  assign out_waddr = cur_dst[ACC_D-1:0];
  assign out_wdata = gemm_step ? gemm_out : alu_out;

  // ---------------------------------------------------------------- sequencing
  vta_cycle_classes u_classes (
      .clk(clk), .rst(rst), .active(state != S_IDLE || accept),
      .mem_wait(state == S_DMA && eng_wait), .queued(!empty),
      .n_busy(n_busy), .n_memory(n_memory), .n_token(n_token), .n_empty(n_empty)
  );

  wire [63:0] h_bytes = (64'(h_x) * 64'(h_y)) << h_leb;
  wire [15:0] h_imm = h[`VTA_A_IMM_LSB +: 16];

  always @(posedge clk) begin
    if (rst) begin
      state <= S_IDLE;
      phase <= 1'b0;
      n_insns <= 64'd0; n_bytes_uop <= 64'd0; n_bytes_acc <= 64'd0; n_bytes_acc8 <= 64'd0;
      n_gemm_uops <= 64'd0; n_alu_uops <= 64'd0;
    end else begin
      if (accept) begin
        n_insns <= n_insns + 64'd1;
        f_push_prev <= h_push_prev;
        f_push_next <= h_push_next;
        f_uop <= h_uop;
        f_acc8 <= h_acc8;
        f_reset <= h[`VTA_G_RESET_LSB];
        f_use_imm <= h_is_alu && h[`VTA_A_USE_IMM_LSB];
        f_alu_op <= h[`VTA_A_ALU_OP_LSB +: 3];
        f_imm <= {{16{h_imm[15]}}, h_imm};
        f_ubgn <= h_ubgn; f_uend <= h_uend; f_iout <= h_iout; f_iin <= h_iin;
        f_dfo <= 32'(h[`VTA_G_DST_FACTOR_OUT_LSB +: `VTA_G_DST_FACTOR_OUT_W]);
        f_dfi <= 32'(h[`VTA_G_DST_FACTOR_IN_LSB +: `VTA_G_DST_FACTOR_IN_W]);
        if (h_is_gemm) begin
          f_sfo <= 32'(h[`VTA_G_SRC_FACTOR_OUT_LSB +: `VTA_G_SRC_FACTOR_OUT_W]);
          f_sfi <= 32'(h[`VTA_G_SRC_FACTOR_IN_LSB +: `VTA_G_SRC_FACTOR_IN_W]);
        end else begin
          f_sfo <= 32'(h[`VTA_A_SRC_FACTOR_OUT_LSB +: `VTA_A_SRC_FACTOR_OUT_W]);
          f_sfi <= 32'(h[`VTA_A_SRC_FACTOR_IN_LSB +: `VTA_A_SRC_FACTOR_IN_W]);
        end
        f_wfo <= 32'(h[`VTA_G_WGT_FACTOR_OUT_LSB +: `VTA_G_WGT_FACTOR_OUT_W]);
        f_wfi <= 32'(h[`VTA_G_WGT_FACTOR_IN_LSB +: `VTA_G_WGT_FACTOR_IN_W]);
        u <= {1'b0, h_ubgn};
        it_i <= 14'd0; it_o <= 14'd0;
        dst_row <= 32'd0; dst_off <= 32'd0; src_row <= 32'd0; src_off <= 32'd0;
        wgt_row <= 32'd0; wgt_off <= 32'd0;
        phase <= 1'b0;
        tail_left <= h_tail;
        if (h_is_load) begin
          if (h_uop) n_bytes_uop <= n_bytes_uop + h_bytes;
          else if (h_acc8) n_bytes_acc8 <= n_bytes_acc8 + h_bytes;
          else n_bytes_acc <= n_bytes_acc + h_bytes;
        end
        if (!one_cycle) begin
          if (h_dma) state <= S_DMA;
          else if (h_zero_n) state <= S_TAIL;
          else state <= h_is_gemm ? S_GEMM : S_ALU;
        end
      end
      case (state)
        S_DMA: if (eng_done) state <= S_IDLE;
        S_GEMM, S_ALU: begin
          if (state == S_ALU && !f_use_imm) begin
            phase <= !phase;
            if (!phase) src_q <= acc_rdata;
          end
          if (step) begin
            if (state == S_GEMM) begin
              if (!f_reset) n_gemm_uops <= n_gemm_uops + 64'd1;
            end else begin
              n_alu_uops <= n_alu_uops + 64'd1;
            end
            if (last_uop) begin
              state <= loop_tail_zero ? S_IDLE : S_TAIL;
            end else if (u + 1'b1 != f_uend) begin
              u <= u + 1'b1;
            end else begin
              u <= {1'b0, f_ubgn};
              if (it_i + 14'd1 != f_iin) begin
                it_i <= it_i + 14'd1;
                dst_off <= dst_off + f_dfi;
                src_off <= src_off + f_sfi;
                wgt_off <= wgt_off + f_wfi;
              end else begin
                it_i <= 14'd0;
                it_o <= it_o + 14'd1;
                dst_row <= dst_row + f_dfo; dst_off <= dst_row + f_dfo;
                src_row <= src_row + f_sfo; src_off <= src_row + f_sfo;
                wgt_row <= wgt_row + f_wfo; wgt_off <= wgt_row + f_wfo;
              end
            end
          end
        end
        S_TAIL: begin
          tail_left <= tail_left - 32'd1;
          if (tail_left == 32'd1) state <= S_IDLE;
        end
        default: ;
      endcase
    end
  end
endmodule
`default_nettype wire
