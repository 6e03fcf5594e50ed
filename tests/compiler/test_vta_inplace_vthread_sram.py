"""Passes alias_inplace_alu, inject_virtual_thread, allocate_sram."""

from __future__ import annotations

import pytest
from vta_helpers import small_conv

from compiler.tir.nodes import Allocate, For, ForKind, PrimFunc, Seq
from compiler.tir.printer import print_func
from compiler.tir.visit import walk
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.intrin import ACC
from compiler.vta.nest import VtaPassError
from compiler.vta.sram import SramOverflowError, allocate_sram
from compiler.vta.vthread import inject_virtual_thread


def _allocs(f):
    return {n.buffer.name: n.buffer for n in walk(f.body) if isinstance(n, Allocate)}


def test_alias_epilogue_into_accumulator(cfg):
    _, f = small_conv(cfg)
    before = _allocs(f)
    assert {"conv2d", "conv2d.shr", "conv2d.bias", "conv2d.clip.max", "conv2d.clip.min"} <= set(
        before
    )
    g = alias_inplace_alu(f)
    after = _allocs(g)
    acc = sorted(n for n, b in after.items() if b.scope == ACC)
    assert acc == ["bias.acc", "conv2d"]  # the whole epilogue runs in the GEMM's rows
    text = print_func(g)
    assert (
        "conv2d[i_2, j_2, k_2, l_2, m_2, n_2] = conv2d[i_2, j_2, k_2, l_2, m_2, n_2] >> 8" in text
    )
    assert "int8(conv2d[" in text  # the store reads the accumulator tile


def test_alias_reduction_initialized_in_place(cfg):
    """The GEMM-unit bias starts from the shifted tile: it accumulates in the same rows."""
    _, f = small_conv(cfg, bias_on="gemm")
    g = alias_inplace_alu(f)
    acc = sorted(n for n, b in _allocs(g).items() if b.scope == ACC)
    assert acc == ["conv2d"]
    text = print_func(g)
    assert "= conv2d[i_5, j_5, k_4, l_3, m_3, n_3]\n" not in text  # self-copy init removed
    assert "bias_digits.wgt[" in text and "bias_row.inp[" in text


def test_alias_rejects_operand_read_later(cfg):
    _, f = small_conv(cfg)
    # Make the bias stage read the GEMM tile again after the shift consumed it in place.
    from compiler.tir.nodes import Attr, Load
    from compiler.tir.visit import Mutator

    conv = _allocs(f)["conv2d"]
    shr = _allocs(f)["conv2d.shr"]

    class _Redirect(Mutator):
        def visit_Load(self, node):  # noqa: N802
            return Load(conv, node.indices) if node.buffer is shr else node

    bad = PrimFunc(f.name, f.params, _Redirect().visit(f.body))
    with pytest.raises(VtaPassError, match="read again later"):
        alias_inplace_alu(bad)
    assert Attr  # imported for the Mutator hook name


def test_vthread_doubles_buffers_and_interleaves(cfg):
    _, f = small_conv(cfg, h_threading=2)
    assert any(isinstance(n, For) and n.kind == ForKind.VIRTUAL_THREAD for n in walk(f.body))
    g = inject_virtual_thread(alias_inplace_alu(f))
    assert not any(isinstance(n, For) and n.kind == ForKind.VIRTUAL_THREAD for n in walk(g.body))
    allocs = _allocs(g)
    assert allocs["conv2d"].shape[0] == 2 and allocs["conv2d.pad.inp"].shape[0] == 2
    # inside the input-channel loop: inp(t0), wgt(t0), inp(t1), wgt(t1), gemm(t0), gemm(t1):
    # one thread's loads are adjacent in the load queue
    ico = next(n for n in walk(g.body) if isinstance(n, For) and n.var.name == "ic.o")
    body = ico.body
    assert isinstance(body, Seq) and len(body.stmts) == 6
    text = [print_func(PrimFunc("b", (), s)) for s in body.stmts]
    assert "conv2d.pad.inp[0," in text[0] and "kernel.wgt[0," in text[1]
    assert "conv2d.pad.inp[1," in text[2] and "kernel.wgt[1," in text[3]
    assert "tensorize" in text[4] and "conv2d[0," in text[4] and "conv2d[1," in text[5]


def test_sram_rows_assigned_disjoint(cfg):
    _, f = small_conv(cfg, h_threading=2)
    g = allocate_sram(inject_virtual_thread(alias_inplace_alu(f)), cfg)
    bufs = [n.buffer for n in walk(g.body) if isinstance(n, Allocate)]
    by_scope: dict = {}
    for b in bufs:
        rows = 1
        for s in b.shape[:-2]:
            rows *= s
        by_scope.setdefault(b.scope, []).append((b.elem_offset, b.elem_offset + rows))
    for spans in by_scope.values():
        spans.sort()
        assert spans[0][0] == 0
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert dict(g.attrs)["sram_rows"]["vta.acc"] == by_scope[ACC][-1][1]


def test_sram_overflow_names_buffer_and_rows(cfg):
    from compiler.schedule.vta_gemm import Knobs, schedule_vta
    from compiler.tir.lower import lower
    from compiler.vta.ops import conv2d_op

    # an accumulator tile of 2*acc_depth rows: 1 x 2 blocks x H x W pixels
    side = 1
    while side * side * 2 <= cfg.acc_depth:
        side *= 2
    op = conv2d_op(cfg, 1, cfg.block_in, side, side, 2 * cfg.block_out, 1, 1, 0)
    f = lower(schedule_vta(op, Knobs(tile_h=side, tile_w=side, tile_co=2)))
    with pytest.raises(SramOverflowError) as e:
        allocate_sram(alias_inplace_alu(f), cfg)
    msg = str(e.value)
    assert "conv2d" in msg and f"{2 * side * side} rows" in msg and f"{cfg.acc_depth} rows" in msg
