"""Compiled operators on the Verilated RTL: same output and same counters as on hw_sim."""

from __future__ import annotations

import numpy as np
import pytest
from vta_refs import conv2d_nchw, epilogue, random_conv_inputs

from compiler.vta.build import build
from compiler.vta.elementwise import elementwise_op
from compiler.vta.ops import conv2d_op, dense_op
from tests.compiler.rtl_helpers import run_on_hw_sim_and_rtl

pytestmark = pytest.mark.rtl


def test_conv_with_residual_and_alu_bias(cfg, rng):
    ci, co = 2 * cfg.block_in, 2 * cfg.block_out
    op = conv2d_op(cfg, 1, ci, 8, 8, co, 3, 2, 1, residual=True, bias_on="alu")
    x, w, b, r = random_conv_inputs(rng, 1, ci, 8, 8, co, 3, 1, (1, co, 4, 4))
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), data=x, kernel=w, bias=b, residual=r)
    np.testing.assert_array_equal(y, epilogue(conv2d_nchw(x, w, 2, 1), b, residual=r))


def test_dense_gemm_bias_and_elementwise(cfg, rng):
    op = dense_op(cfg, 4, 3 * cfg.block_in, 2 * cfg.block_out, bias=True)
    x = rng.integers(-128, 128, (4, 3 * cfg.block_in)).astype(np.int8)
    w = rng.integers(-128, 128, (2 * cfg.block_out, 3 * cfg.block_in)).astype(np.int8)
    b = rng.integers(-(2**14), 2**14, (2 * cfg.block_out,)).astype(np.int32)
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), data=x, kernel=w, bias=b)
    np.testing.assert_array_equal(y, epilogue(x.astype(np.int64) @ w.astype(np.int64).T, b))
    op = elementwise_op(cfg, (1, 2 * cfg.block_out, 4, 4), "int8", "int8", 1, 0, [("relu",)])
    a = rng.integers(-128, 128, (1, 2 * cfg.block_out, 4, 4)).astype(np.int8)
    c = rng.integers(-128, 128, (1, 2 * cfg.block_out, 4, 4)).astype(np.int8)
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), a=a, b=c)
    np.testing.assert_array_equal(y, np.maximum((a.astype(np.int64) << 1) + c, 0).astype(np.int8))


def test_portable_schedules_on_rtl(cfg, rng):
    """The portable schedules on the RTL (Chisel semantics): two virtual threads over several
    tiles (the sunk resets and epilogues, their tokens), and a tile of two output rows whose
    reduction runs one step per instruction (the HLS write-after-write rule)."""
    from compiler.schedule.vta_gemm import Knobs

    ci, co = 2 * cfg.block_in, 2 * cfg.block_out
    op = conv2d_op(cfg, 1, ci, 8, 8, co, 3, 1, 1)
    x, w, b, _ = random_conv_inputs(rng, 1, ci, 8, 8, co, 3)
    ref = epilogue(conv2d_nchw(x, w, 1, 1), b)
    for knobs in (Knobs(tile_h=2, tile_w=8, tile_co=1, h_threading=2), Knobs(tile_w=2)):
        y = run_on_hw_sim_and_rtl(cfg, build(op, cfg, knobs), data=x, kernel=w, bias=b)
        np.testing.assert_array_equal(y, ref)


def test_per_channel_requantize_on_rtl(cfg, rng):
    """Per-channel requantization (a tensor SHR by a shift row in the accumulator, amounts
    0..15), grouped conv and dense, on the RTL: same as hw_sim and as NumPy."""
    ci, co = 2 * cfg.block_in, 2 * cfg.block_out
    steps = [("bias",), ("shr_chan",), ("shr", 2), ("clip", -128, 127)]
    x, w, b, _ = random_conv_inputs(rng, 1, ci, 8, 8, co, 3, 2)
    shifts = rng.integers(0, 16, co).astype(np.int32)
    shifts[:2] = (0, 15)
    op = conv2d_op(cfg, 1, ci, 8, 8, co, 3, 1, 1, groups=2, epilogue=steps)
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), data=x, kernel=w, bias=b, shift=shifts)
    acc = conv2d_nchw(x, w, 1, 1, 2).astype(np.int64) + b.reshape(1, -1, 1, 1)
    want = np.clip((acc >> shifts.reshape(1, -1, 1, 1)) >> 2, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(y, want)
    xd = rng.integers(-128, 128, (2, ci)).astype(np.int8)
    wd = rng.integers(-128, 128, (co, ci)).astype(np.int8)
    op = dense_op(cfg, 2, ci, co, epilogue=[("shr_chan",), ("clip", -128, 127)])
    y = run_on_hw_sim_and_rtl(cfg, build(op, cfg), data=xd, kernel=wd, shift=shifts)
    acc = xd.astype(np.int64) @ wd.astype(np.int64).T
    np.testing.assert_array_equal(y, np.clip(acc >> shifts, -128, 127).astype(np.int8))
