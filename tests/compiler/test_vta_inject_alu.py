"""Pass `inject_alu`: ALU pragma nests -> ALU micro-ops (before/expected text, and errors)."""

from __future__ import annotations

import pytest

from compiler.tir.nodes import Attr, BinOp, Buffer, Const, For, ForKind, Load, PrimFunc, Store, Var
from compiler.tir.printer import print_stmt
from compiler.vta.alu_gemm import inject_alu
from compiler.vta.nest import VtaPassError


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
