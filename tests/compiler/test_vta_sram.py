"""Pass `allocate_sram`: disjoint row ranges; an overflow names the buffer and the rows."""

from __future__ import annotations

import pytest
from vta_helpers import small_conv

from compiler.schedule.vta_gemm import Knobs, schedule_vta
from compiler.tir.lower import lower
from compiler.tir.nodes import Allocate
from compiler.tir.visit import walk
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.intrin import ACC
from compiler.vta.ops import conv2d_op
from compiler.vta.sram import SramOverflowError, allocate_sram
from compiler.vta.vthread import inject_virtual_thread


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
    # through the pipeline, the traceback also says which pass and function
    from compiler.vta.build import vta_pipeline

    with pytest.raises(SramOverflowError) as e:
        vta_pipeline(cfg).run(f)
    assert any("in pass allocate_sram of pipeline vta" in n for n in e.value.__notes__)
