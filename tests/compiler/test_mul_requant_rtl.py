"""Fixed-point requantization (pre-shift row, clamp, tensor MUL by a multiplier row, rounding
shift) of a grouped conv and a dense layer on the Verilated RTL: same as hw_sim and NumPy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from vta_refs import conv2d_nchw, random_conv_inputs

from compiler.driver.per_channel_epilogue import fixed_point_steps, fold_channel_steps
from compiler.graph.quant.fixed_point import plan_multipliers
from compiler.vta.build import build
from compiler.vta.ops import conv2d_op, dense_op
from tests.compiler.rtl_helpers import run_on_hw_sim_and_rtl

pytestmark = pytest.mark.rtl


def test_fixed_point_requantize_on_rtl(cfg, rng):
    cfg = dataclasses.replace(cfg, ALU_MUL=True)
    ci, co = 2 * cfg.block_in, 2 * cfg.block_out
    fp = plan_multipliers(2.0 ** rng.uniform(-14, -8, co), 128, "rtl")
    steps = [("bias",), *fixed_point_steps("rtl", fp.pre, fp.mult, fp.shift), ("clip", -128, 127)]
    ch = fold_channel_steps(steps, co, "rtl")
    assert ("mul_chan",) in ch.steps and ("shr_chan",) in ch.steps
    x, w, b, _ = random_conv_inputs(rng, 1, ci, 8, 8, co, 3, 2)
    op = conv2d_op(cfg, 1, ci, 8, 8, co, 3, 1, 1, groups=2, bias_on="alu", epilogue=ch.steps)
    bias = (b.astype(np.int64) + ch.bias_add).astype(np.int32)
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), data=x, kernel=w, bias=bias, shift=ch.shift_row,
              mult=ch.mult_row)  # fmt: skip
    acc = conv2d_nchw(x, w, 1, 1, 2).astype(np.int64) + b.reshape(1, -1, 1, 1)
    want = np.clip(fp.apply(acc, (1, -1, 1, 1)), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(y, want)
    assert 0 < np.count_nonzero(np.abs(y) < 127) < y.size  # both inside and saturated values
    xd = rng.integers(-128, 128, (2, ci)).astype(np.int8)
    wd = rng.integers(-128, 128, (co, ci)).astype(np.int8)
    fp = plan_multipliers(2.0 ** rng.uniform(-12, -9, co), 128, "rtl")
    ch = fold_channel_steps(fixed_point_steps("d", fp.pre, fp.mult, fp.shift) + [("clip", 0, 127)],
                            co, "d")  # fmt: skip
    op = dense_op(cfg, 2, ci, co, bias=True, epilogue=ch.steps)
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), data=xd, kernel=wd,
                              bias=ch.bias_add.astype(np.int32), shift=ch.shift_row,
                              mult=ch.mult_row)  # fmt: skip
    acc = xd.astype(np.int64) @ wd.astype(np.int64).T
    np.testing.assert_array_equal(y, np.clip(fp.apply(acc, (1, -1)), 0, 127).astype(np.int8))
