"""Pass `inject_gemm`: tensorize regions -> GEMM micro-ops (reset, update, GEMM-unit bias)."""

from __future__ import annotations

import pytest
from vta_helpers import through_gemm

from compiler.tir.nodes import Attr, Buffer, Const, For, ForKind, Load, PrimFunc, Store, Var
from compiler.tir.printer import print_stmt
from compiler.tir.visit import walk
from compiler.vta.alu_gemm import inject_gemm
from compiler.vta.nest import VtaPassError


def test_gemm_reset_and_update_uops(cfg):
    g = through_gemm(cfg)
    specs = [n.value for n in walk(g.body) if isinstance(n, Attr) and n.key == "vta.gemm"]
    assert [repr(s) for s in specs] == ["reset", "gemm"]
    text = print_stmt(g.body)
    assert "tensorize" not in text and "pragma" not in text


def test_bias_as_gemm_accumulates_in_place(cfg):
    g = through_gemm(cfg, bias_on="gemm")
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
