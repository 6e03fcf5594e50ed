"""Small accelerator workloads lowered to loop IR, shared by the pass tests."""

from __future__ import annotations

from compiler.schedule.vta_gemm import Knobs, schedule_vta
from compiler.tir.lower import lower
from compiler.tir.nodes import Allocate
from compiler.tir.visit import walk
from compiler.vta.alu_gemm import inject_alu, inject_gemm
from compiler.vta.dma import inject_dma_copy
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.ops import conv2d_op
from compiler.vta.sram import allocate_sram


def small_conv(cfg, h_threading=1, tile_h=2, residual=False, bias_on="alu"):
    """A 2-block 3x3 conv on a 4x4 image with the full epilogue, lowered (no VTA passes)."""
    op = conv2d_op(
        cfg,
        1,
        2 * cfg.block_in,
        4,
        4,
        2 * cfg.block_out,
        3,
        1,
        1,
        residual=residual,
        bias_on=bias_on,
    )
    knobs = Knobs(tile_h=tile_h, tile_w=4, tile_ci=1, tile_co=1, h_threading=h_threading)
    return op, lower(schedule_vta(op, knobs), op.name)


def through_gemm(cfg, bias_on="alu"):
    """`small_conv` through the VTA passes up to `inject_gemm` (no virtual threads, no folding)."""
    _, f = small_conv(cfg, bias_on=bias_on)
    g = allocate_sram(alias_inplace_alu(f), cfg)
    return inject_gemm(inject_alu(inject_dma_copy(g), cfg), cfg)


def allocs(f):
    """Buffers allocated in `f`, by name."""
    return {n.buffer.name: n.buffer for n in walk(f.body) if isinstance(n, Allocate)}
