"""Pooling and softmax vs NumPy (float32; 1e-5 tolerance)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cpu import ops
from tests.cpu import npref


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    "k,s,pads",
    [(3, 2, (1, 1, 1, 1)), (2, 2, (0, 0, 0, 0)), (3, 1, (0, 1, 2, 1)), (5, 3, (2, 2, 2, 2))],
)
def test_pool2d(kind, k, s, pads, rng):
    x = rng.standard_normal((2, 5, 13, 12)).astype(np.float32)
    ref = npref.pool2d(kind, x, (k, k), (s, s), pads)
    got = ops.max_pool(x, k, s, pads) if kind == "max" else ops.avg_pool(x, k, s, pads)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_avg_pool_count_include_pad(rng):
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    ref = npref.pool2d("avg", x, (3, 3), (2, 2), (1, 1, 1, 1), count_include_pad=True)
    got = ops.avg_pool(x, 3, 2, 1, count_include_pad=True)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_global_avg_pool(rng):
    x = rng.standard_normal((2, 40, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(
        ops.global_avg_pool(x), x.mean(axis=(2, 3), keepdims=True), atol=1e-5
    )


@pytest.mark.parametrize(
    "shape,axis", [((4, 1000), -1), ((2, 5, 3, 7), 1), ((3, 4, 5), 0), ((1, 10), 1)]
)
def test_softmax_and_log_softmax(shape, axis, rng):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(ops.softmax(x, axis), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.softmax(x, axis, log=True), np.log(ref), rtol=1e-5, atol=1e-5)


def test_nchwc_max_pool_and_global_avg_pool(rng):
    from compiler.cpu.layout import pack_nchwc_numpy, unpack_nchwc_numpy
    from compiler.cpu.pool_nchwc import global_avg_pool_nchwc, max_pool_nchwc

    x = np.abs(rng.standard_normal((1, 16, 11, 11))).astype(np.float32)  # post-ReLU input
    mp = ops.kernel(("t_mp",), lambda: max_pool_nchwc(1, 2, 11, 11, 8, 3, 2, 1, 1, 1))
    out = np.zeros((1, 2, 8, 8, 8), np.float32)
    mp(pack_nchwc_numpy(x, 8, (1, 1)), out)
    ref = npref.pool2d("max", x, (3, 3), (2, 2), (1, 1, 1, 1))
    np.testing.assert_allclose(unpack_nchwc_numpy(out[:, :, 1:-1, 1:-1]), ref, rtol=1e-6)
    gap = ops.kernel(("t_gap",), lambda: global_avg_pool_nchwc(1, 2, 11, 11, 8, 1))
    feat = np.zeros((1, 2, 8), np.float32)
    gap(pack_nchwc_numpy(x, 8, (1, 1)), feat)
    np.testing.assert_allclose(feat.reshape(16), x.mean(axis=(2, 3))[0], rtol=1e-5)


def test_every_row_knob_setting_is_correct(rng):
    """Pooling, softmax and the direct conv2d are functions of RowKnobs (parallel rows,
    vectorized rows, unrolled window columns): every point of the space gives NumPy's result."""
    from compiler.cpu.conv2d_direct import conv2d_direct
    from compiler.cpu.nest import row_knob_space
    from compiler.cpu.pool import pool2d
    from compiler.cpu.softmax import default_softmax_knobs
    from compiler.cpu.softmax import softmax as softmax_func

    x = rng.standard_normal((1, 3, 9, 11)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    pads = (1, 0, 2, 1)
    ref_pool = npref.pool2d("avg", x, (3, 3), (2, 1), pads)
    ref_conv = npref.conv2d(x, w, None, (1, 2), pads, (2, 1))
    ref_sm = np.exp(x - x.max(axis=2, keepdims=True))
    ref_sm /= ref_sm.sum(axis=2, keepdims=True)
    assert default_softmax_knobs(x.shape, 2) in row_knob_space(taps=False)
    for kn in row_knob_space():
        out = np.empty(ref_pool.shape, np.float32)
        k = ops.kernel(
            ("test_rowk_pool", kn),
            lambda kn=kn: pool2d("avg", x.shape, (3, 3), (2, 1), pads, knobs=kn),
        )
        k(x, out)
        np.testing.assert_allclose(out, ref_pool, rtol=1e-5, atol=1e-5)
        out = np.empty(ref_conv.shape, np.float32)
        k = ops.kernel(
            ("test_rowk_conv", kn),
            lambda kn=kn: conv2d_direct(1, 3, 9, 11, 4, 3, 3, (1, 2), pads, (2, 1), knobs=kn),
        )
        k(x, w, out)
        np.testing.assert_allclose(out, ref_conv, atol=1e-4 * np.abs(ref_conv).max(), rtol=0)
    for kn in row_knob_space(taps=False):
        out = np.empty_like(x)
        ops.kernel(("test_rowk_sm", kn), lambda kn=kn: softmax_func(x.shape, 2, knobs=kn))(x, out)
        np.testing.assert_allclose(out, ref_sm, rtol=1e-5, atol=1e-6)
