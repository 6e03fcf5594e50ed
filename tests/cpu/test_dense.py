"""dense / matmul / batched matmul vs NumPy (float32, tolerance 1e-4 of the output scale)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cpu import ops
from compiler.cpu.dense import DenseKnobs
from tests.conftest import sweep_size


def close(got, ref):
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())), rtol=0)


def test_random_dense(rng):
    for _ in range(sweep_size(6)):
        m, k = (int(v) for v in rng.integers(1, 70, 2))
        n = int(rng.choice([8, 16, 24, 40, 128]))
        x = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((k, n)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        close(ops.dense(x, w, b), x.astype(np.float64) @ w + b)


@pytest.mark.parametrize(
    "knobs", [DenseKnobs(8, 1), DenseKnobs(16, 6), DenseKnobs(32, 3), DenseKnobs(8, 5)]
)
def test_dense_knobs_and_relu(knobs, rng):
    x = rng.standard_normal((13, 64)).astype(np.float32)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    close(ops.dense(x, w, relu=True, knobs=knobs), np.maximum(x.astype(np.float64) @ w, 0))


def test_matmul_batched_and_broadcast(rng):
    a = rng.standard_normal((2, 3, 17, 20)).astype(np.float32)
    b = rng.standard_normal((2, 3, 20, 24)).astype(np.float32)
    close(ops.matmul(a, b), a.astype(np.float64) @ b)
    b2 = rng.standard_normal((20, 8)).astype(np.float32)
    close(ops.matmul(a, b2), a.astype(np.float64) @ b2)
    close(ops.matmul(a[0, 0], b[0, 0]), a[0, 0].astype(np.float64) @ b[0, 0])


def test_bad_blocking_is_reported():
    from compiler.cpu.dense import dense

    with pytest.raises(ValueError, match="nb=16 must divide N=24"):
        dense(4, 8, 24, DenseKnobs(16, 2))


def test_int8_dense_is_bit_exact(rng):
    x = rng.integers(-128, 128, (9, 70)).astype(np.int8)
    w = rng.integers(-128, 128, (70, 24)).astype(np.int8)
    b = rng.integers(-(2**14), 2**14, 24).astype(np.int32)
    got = ops.dense(x, w, b)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, x.astype(np.int64) @ w.astype(np.int64) + b)
    np.testing.assert_array_equal(
        ops.dense(x, w, relu=True), np.maximum(x.astype(np.int64) @ w.astype(np.int64), 0)
    )


def test_dense_knob_space(rng):
    from compiler.cpu.dense import default_dense_knobs, knob_space

    space = knob_space(20, 48, 8)
    assert default_dense_knobs(20, 16, 48, 8) in space
    x = rng.standard_normal((20, 16)).astype(np.float32)
    w = rng.standard_normal((16, 48)).astype(np.float32)
    for k in rng.choice(len(space), 3, replace=False):
        close(ops.dense(x, w, knobs=space[int(k)]), x.astype(np.float64) @ w)
