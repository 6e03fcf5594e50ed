"""Pass inject_dma_copy: copy nests -> 2-D DMA intrinsics (before/expected text, and errors)."""

from __future__ import annotations

import pytest
from vta_helpers import small_conv

from compiler.tir.nodes import (
    Attr,
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    Load,
    PrimFunc,
    Select,
    Store,
    Var,
)
from compiler.tir.printer import print_stmt
from compiler.vta.dma import inject_dma_copy
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.nest import VtaPassError
from compiler.vta.sram import allocate_sram
from hw_sim.isa import MemType


def _copy_func(pad: bool):
    """Copy a 4x6 window (rows y, cols x) of an (1, 8, 10, 1, 16) tensor into an SRAM tile."""
    src = Buffer("src", (1, 8, 10, 1, 16), "int8")
    dst = Buffer("tile", (4, 6, 1, 16), "int8", "vta.inp", elem_offset=32)
    ys, xs, bs, cs = Var("y"), Var("x"), Var("b"), Var("c")
    h0 = Var("h0")
    if pad:
        cond = BinOp(
            "and",
            BinOp("and", BinOp("ge", h0 + ys, Const(1)), BinOp("lt", h0 + ys, Const(9))),
            BinOp("and", BinOp("ge", xs, Const(1)), BinOp("lt", xs, Const(11))),
        )
        val = Select(cond, Load(src, (Const(0), h0 + ys - 1, xs - 1, bs, cs)), Const(0, "int8"))
    else:
        val = Load(src, (Const(0), h0 + ys, xs, bs, cs))
    st = Store(dst, (ys, xs, bs, cs), val)
    body = st
    for v, e in ((cs, 16), (bs, 1), (xs, 6), (ys, 4)):
        body = For(v, Const(0), Const(e), ForKind.SERIAL, body)
    body = For(h0, Const(0), Const(2), ForKind.SERIAL, Attr("pragma", "dma_copy", body))
    return PrimFunc("f", (src,), body)


def test_plain_tile_load():
    out = inject_dma_copy(_copy_func(pad=False))
    assert print_stmt(out.body) == (
        "for h0 in range(0, 2) serial:\n"
        f"  vta.load_2d({int(MemType.INP)}, 32, 0, h0 * 10, 4, 6, 10, 0, 0, 0, 0):int32"
    )


def test_padded_tile_load_starts_at_first_valid_element():
    out = inject_dma_copy(_copy_func(pad=True))
    # rows: y_pad_0 = clamp(1 - h0, 0, 4), y_pad_1 = clamp(h0 - 5, 0, 4); columns: one zero
    # before (x starts at -1), none after; DRAM starts at the first in-bounds row and column.
    p0, p1 = "min(max(0 - h0 + 1, 0), 4)", "min(max(h0 - 5, 0), 4)"
    assert print_stmt(out.body) == (
        "for h0 in range(0, 2) serial:\n"
        f"  vta.load_2d({int(MemType.INP)}, 32, 0, h0 * 10 + 1 + {p0} * 10 - 11, "
        f"4 - {p0} - {p1}, 5, 10, {p0}, {p1}, 1, 0):int32"
    )


def test_conv_input_and_store_lowered(cfg):
    _, f = small_conv(cfg)
    g = inject_dma_copy(allocate_sram(alias_inplace_alu(f), cfg))
    text = print_stmt(g.body)
    assert "pragma" not in text.split("attr pragma = 'alu'")[0]
    assert text.count("vta.load_2d") == 3 and text.count("vta.store_2d") == 1
    assert "dma_copy" not in text


def test_copy_between_two_srams_is_an_error():
    a = Buffer("a", (2, 1, 16), "int8", "vta.inp")
    b = Buffer("b", (2, 1, 16), "int8", "vta.inp")
    i, j, k = Var("i"), Var("j"), Var("k")
    body = Store(b, (i, j, k), Load(a, (i, j, k)))
    for v, e in ((k, 16), (j, 1), (i, 2)):
        body = For(v, Const(0), Const(e), ForKind.SERIAL, body)
    with pytest.raises(VtaPassError, match="exactly one side"):
        inject_dma_copy(PrimFunc("f", (), Attr("pragma", "dma_copy", body)))
