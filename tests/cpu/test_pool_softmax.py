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
