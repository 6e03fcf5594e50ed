"""Max pooling and nearest ×2 upsampling on the accelerator (`compiler/vta/maxpool.py`,
`compiler/vta/upsample.py`) on hw_sim, at both configs:
bit-exact against the graph's int8 reference, portable across VTA's implementations (and so
race-free: `check_portable` runs `hw_sim.hazards`' rules), MUL-free."""

from __future__ import annotations

import numpy as np
import pytest
from vta_portable import run_portable

from compiler.graph.ref.vtac_pool import maxpool_hw
from compiler.vta.build import build
from compiler.vta.maxpool import (
    MaxPoolKnobs,
    build_maxpool,
    maxpool_knob_space,
    maxpool_knobs,
    maxpool_op,
    tile_rows,
)
from hw_sim.isa import AluInsn, AluOp

pytestmark = pytest.mark.sim

CASES = {
    "resnet-stem-3x3s2p1": ((1, 16, 16, 16), (3, 3), (2, 2), (1, 1, 1, 1)),
    "sppf-5x5s1p2": ((1, 32, 10, 10), (5, 5), (1, 1), (2, 2, 2, 2)),
    "yolo-2x2s2": ((1, 20, 7, 9), (2, 2), (2, 2), (0, 0, 0, 0)),
    "asymmetric": ((1, 8, 9, 6), (3, 2), (1, 2), (2, 0, 0, 1)),
    "batch2": ((2, 16, 6, 6), (3, 3), (2, 2), (1, 1, 1, 1)),
}


@pytest.mark.parametrize("case", CASES)
def test_maxpool_is_bit_exact_and_portable(cfg, rng, case):
    shape, k, s, pads = CASES[case]
    op = maxpool_op(cfg, shape, k, s, pads, name=case)
    kern = build(op, cfg)  # the build entry point dispatches to the generator
    x = rng.integers(-128, 128, shape).astype(np.int8)
    y, stats = run_portable(kern, data=x)
    np.testing.assert_array_equal(y, maxpool_hw(x, 2, k, s, pads))
    insns = kern.program.insns
    alu = [i for i in insns if isinstance(i, AluInsn)]
    assert alu and all(i.alu_op in (AluOp.MIN, AluOp.MAX, AluOp.ADD) for i in alu)  # no MUL
    assert stats.alu_uops == kern.alu_uops and stats.gemm_uops == 0


def test_every_knob_point_is_bit_exact_on_a_small_case(cfg, rng):
    shape, k, s, pads = (1, 2 * cfg.block, 5, 6), (3, 3), (2, 1), (1, 1, 1, 1)
    op = maxpool_op(cfg, shape, k, s, pads)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    want = maxpool_hw(x, 2, k, s, pads)
    space = maxpool_knob_space(op, cfg)
    assert len(space) == 3 * 2 * 2  # tile_h 1..3, tile_c 1..2, threads 1..2
    for knobs in space:
        y, _ = run_portable(build_maxpool(op, cfg, knobs), data=x)
        np.testing.assert_array_equal(y, want, err_msg=str(knobs))


def test_default_knobs_take_the_tallest_tile_that_fits(cfg):
    op = maxpool_op(cfg, (1, 64, 56, 56), (3, 3), (2, 2), (1, 1, 1, 1))
    k = maxpool_knobs(op, cfg)
    assert k.tile_h == max(p.tile_h for p in maxpool_knob_space(op, cfg))
    assert k.threads * tile_rows(op, k) <= cfg.acc_depth


def test_a_tile_that_does_not_fit_is_refused_with_the_numbers(cfg):
    op = maxpool_op(cfg, (1, 16, 4, 4 * cfg.acc_depth), (3, 3), (1, 1), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="accumulator rows, the SRAM has"):
        maxpool_knobs(op, cfg)
    wide = maxpool_op(cfg, (1, 64 * cfg.block, 8, 8), (3, 3), (1, 1), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="need .* accumulator rows"):
        build_maxpool(wide, cfg, MaxPoolKnobs(tile_h=8, tile_c=64, threads=2))


def test_bad_geometry_is_refused():
    from hw_sim.config import load_config

    cfg = load_config("small")
    with pytest.raises(ValueError, match="smaller than the kernel"):
        maxpool_op(cfg, (1, 8, 4, 4), (2, 2), (1, 1), (2, 2, 2, 2))


@pytest.mark.parametrize("shape", [(1, 16, 8, 8), (1, 40, 5, 7), (2, 16, 4, 3)])
def test_upsample2x_is_bit_exact_and_portable(cfg, rng, shape):
    from compiler.vta.upsample import upsample2x_op, upsample_knob_space

    op = upsample2x_op(cfg, shape)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    want = x.repeat(2, axis=2).repeat(2, axis=3)
    kern = build(op, cfg)
    y, stats = run_portable(kern, data=x)
    np.testing.assert_array_equal(y, want)
    assert stats.gemm_uops == 0 and stats.alu_uops == kern.alu_uops
    alu = [i for i in kern.program.insns if isinstance(i, AluInsn)]
    assert all(i.alu_op in (AluOp.MIN, AluOp.MAX, AluOp.ADD) for i in alu)
    from compiler.vta.upsample import build_upsample2x

    for knobs in upsample_knob_space(op, cfg)[:6]:
        y, _ = run_portable(build_upsample2x(op, cfg, knobs), data=x)
        np.testing.assert_array_equal(y, want, err_msg=str(knobs))
