"""Small accelerator workloads lowered to loop IR, shared by the pass tests."""

from __future__ import annotations

from compiler.schedule.vta_gemm import Knobs, schedule_vta
from compiler.tir.lower import lower
from compiler.vta.ops import conv2d_op


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
