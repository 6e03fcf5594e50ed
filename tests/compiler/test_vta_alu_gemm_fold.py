"""Passes inject_alu, inject_gemm and fold_uop_loops."""

from __future__ import annotations

import pytest
from vta_helpers import small_conv

from compiler.tir.nodes import Attr, BinOp, Buffer, Const, For, ForKind, Load, PrimFunc, Store, Var
from compiler.tir.printer import print_stmt
from compiler.tir.visit import walk
from compiler.vta.alu_gemm import inject_alu, inject_gemm
from compiler.vta.dma import inject_dma_copy
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.nest import VtaPassError
from compiler.vta.sram import allocate_sram
from compiler.vta.uop import UopKernel, fold_uop_loops
from hw_sim.isa import AluOp


def _alu_nest(cfg, value_fn, rows=3):
    acc = Buffer("acc", (rows, cfg.batch, cfg.block_out), "int32", "vta.acc", elem_offset=4)
    r, b, o = Var("r"), Var("b"), Var("o")
    body = Store(acc, (r, b, o), value_fn(Load(acc, (r, b, o))))
    for v, e in ((o, cfg.block_out), (b, cfg.batch), (r, rows)):
        body = For(v, Const(0), Const(e), ForKind.SERIAL, body)
    return PrimFunc("f", (), Attr("pragma", "alu", body))


def test_alu_immediate_and_shift_left(cfg):
    out = inject_alu(_alu_nest(cfg, lambda x: BinOp("shl", x, Const(3))), cfg)
    assert print_stmt(out.body) == (
        "attr vta.alu = SHR(imm -3):\n"
        "  for r in range(0, 3) serial:\n"
        "    vta.uop(r + 4, r + 4, 0):int32"
    )


def test_alu_rejects_non_inplace(cfg):
    other = Buffer("other", (3, cfg.batch, cfg.block_out), "int32", "vta.acc")

    def val(x):
        return BinOp("sub", Load(other, x.indices), x)

    with pytest.raises(VtaPassError, match="no ALU opcode"):
        inject_alu(_alu_nest(cfg, val), cfg)


def _through_gemm(cfg, bias_on="alu"):
    _, f = small_conv(cfg, bias_on=bias_on)
    g = allocate_sram(alias_inplace_alu(f), cfg)
    return inject_gemm(inject_alu(inject_dma_copy(g), cfg), cfg)


def test_gemm_reset_and_update_uops(cfg):
    g = _through_gemm(cfg)
    specs = [n.value for n in walk(g.body) if isinstance(n, Attr) and n.key == "vta.gemm"]
    assert [repr(s) for s in specs] == ["reset", "gemm"]
    text = print_stmt(g.body)
    assert "tensorize" not in text and "pragma" not in text


def test_bias_as_gemm_accumulates_in_place(cfg):
    g = _through_gemm(cfg, bias_on="gemm")
    specs = [n.value for n in walk(g.body) if isinstance(n, Attr) and n.key == "vta.gemm"]
    assert [repr(s) for s in specs] == ["reset", "gemm", "gemm"]
    bias = [n for n in walk(g.body) if isinstance(n, Attr) and n.key == "vta.gemm"][-1]
    # one micro-op per output row: accumulator row, the constant input row, the digits row
    (call,) = [n for n in walk(bias.body) if getattr(n, "name", "") == "vta.uop"]
    assert not any(isinstance(n, Load) for n in walk(bias.body))  # only SRAM row numbers
    assert len(call.args) == 3


def test_tensorize_with_wrong_block_is_an_error(cfg):
    acc = Buffer("acc", (1, cfg.batch, cfg.block_out + 1), "int32", "vta.acc")
    b, o = Var("b"), Var("o")
    body = Store(acc, (Const(0), b, o), Const(0))
    body = For(o, Const(0), Const(cfg.block_out + 1), ForKind.SERIAL, body)
    body = For(b, Const(0), Const(cfg.batch), ForKind.SERIAL, body)
    with pytest.raises(VtaPassError, match="reset loops"):
        inject_gemm(PrimFunc("f", (), Attr("tensorize", "gemm", body)), cfg)


def test_fold_two_outer_loops_into_instruction(cfg):
    g = fold_uop_loops(_through_gemm(cfg), cfg)
    kernels = [n for n in walk(g.body) if isinstance(n, Attr) and n.key == "vta.uop_kernel"]
    gemm = next(k for k in kernels if k.value.mode == "gemm" and not k.value.reset)
    k: UopKernel = gemm.value
    # loops inside the input-channel step: ky(3), kx(3), y(2), x(4): ky/kx fold, y/x unroll
    assert (k.iter_out, k.iter_in) == (3, 3)
    assert (k.dst_factor_out, k.dst_factor_in) == (0, 0)
    assert (k.src_factor_out, k.src_factor_in) == (6, 1)  # input tile rows are 4 + 2 wide
    assert (k.wgt_factor_out, k.wgt_factor_in) == (3, 1)
    inner = [n for n in walk(gemm.body) if isinstance(n, For)]
    assert [int(lp.extent.value) for lp in inner] == [2, 4]
    alu = [k.value for k in kernels if k.value.mode == "alu"]
    assert [a.alu.op for a in alu] == [AluOp.SHR, AluOp.ADD, AluOp.MAX, AluOp.MIN]
    assert all(a.iter_out * a.iter_in == 8 for a in alu)  # a 2x4 tile, one uop per kernel
