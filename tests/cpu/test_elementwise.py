"""Element-wise ops vs NumPy: activations (float32, 1e-6 relative + 1e-6 absolute), broadcast
binary ops, batch-norm, and the int8 boundary ops (bit-exact)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cpu import ops
from tests.conftest import sweep_size

TOL = {"rtol": 1e-6, "atol": 1e-6}


def hsig(x, a=0.2, b=0.5):
    return np.clip(a * x + b, 0, 1)


UNARY_REF = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "hard_sigmoid": hsig,
    "hard_swish": lambda x: x * hsig(x, 1 / 6, 0.5),
    "exp": np.exp,
    "abs": np.abs,
    "neg": np.negative,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
}


@pytest.mark.parametrize("op", sorted(UNARY_REF))
def test_unary(op, rng):
    x = (rng.standard_normal((3, 5, 7, 9)) * 3).astype(np.float32)
    np.testing.assert_allclose(ops.unary(op, x), UNARY_REF[op](x.astype(np.float64)), **TOL)


def test_clip_and_positive_domain_ops(rng):
    x = (rng.standard_normal((4, 33)) * 3).astype(np.float32)
    np.testing.assert_array_equal(ops.unary("clip", x, min=-1.0, max=2.5), np.clip(x, -1, 2.5))
    np.testing.assert_array_equal(ops.unary("clip", x, min=0.0, max=6.0), np.clip(x, 0, 6))
    y = np.abs(x) + 0.1
    np.testing.assert_allclose(ops.unary("sqrt", y), np.sqrt(y), **TOL)
    np.testing.assert_allclose(ops.unary("log", y), np.log(y.astype(np.float64)), **TOL)


@settings(max_examples=sweep_size(30), deadline=None, derandomize=True)  # reproducible
@given(
    shapes=st.sampled_from(
        [
            ((2, 3, 4), (3, 1)),
            ((5,), (1,)),
            ((1, 8), (6, 1)),
            ((2, 1, 4, 1), (3, 1, 5)),
            ((64, 64), (64,)),
            ((7, 1, 1), ()),
        ]
    ),
    op=st.sampled_from(["add", "sub", "mul", "div", "max", "min"]),
)
def test_broadcast_binary(shapes, op):
    r = np.random.default_rng(11)
    a = r.standard_normal(shapes[0]).astype(np.float32)
    b = (r.standard_normal(shapes[1]) + 3).astype(np.float32)
    ref = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "div": np.divide,
        "max": np.maximum,
        "min": np.minimum,
    }[op](a, b)
    np.testing.assert_allclose(ops.binary(op, a, b), ref, **TOL)


def test_bad_broadcast_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)|do not broadcast"):
        from compiler.cpu.elementwise import binary

        binary("add", (3, 4), (5,))


def test_batch_norm(rng):
    x = rng.standard_normal((2, 6, 5, 5)).astype(np.float32)
    g, b, m = (rng.standard_normal(6).astype(np.float32) for _ in range(3))
    v = (rng.random(6) + 0.5).astype(np.float32)
    ref = (x - m[:, None, None]) / np.sqrt(v[:, None, None] + 1e-5) * g[:, None, None] + b[
        :, None, None
    ]
    np.testing.assert_allclose(ops.batch_norm(x, g, b, m, v), ref, rtol=1e-5, atol=1e-5)


def test_quantize_dequantize_bit_exact(rng):
    x = (rng.standard_normal((3, 50)) * 4).astype(np.float32)
    x[0, :4] = [0.25, 0.75, -0.25, 1000.0]  # ties to even, and saturation
    for zp in (0, 3):
        ref = np.clip(np.round(x / np.float32(0.5)) + zp, -128, 127).astype(np.int8)
        q = ops.quantize(x, 0.5, zp)
        np.testing.assert_array_equal(q, ref)
        np.testing.assert_array_equal(ops.dequantize(q, 0.5, zp), (q.astype(np.float32) - zp) * 0.5)


@pytest.mark.parametrize("shift,rnd", [(0, False), (8, False), (8, True), (13, False)])
def test_requantize_bit_exact(shift, rnd, rng):
    x = rng.integers(-(2**20), 2**20, (4, 37)).astype(np.int32)
    y = x + (1 << (shift - 1) if rnd and shift else 0)
    ref = np.clip(y >> shift, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(ops.requantize(x, shift, round_half_up=rnd), ref)
    vta = np.clip(x >> shift, 0, 127).astype(np.int8)  # VTA's epilogue clips to [0, 127]
    np.testing.assert_array_equal(ops.requantize(x, shift, 0, 127), vta)


def test_vector_exp_accuracy_over_its_range():
    """The inline vector exp: within 3e-7 relative of float64 exp across [-87, 88]."""
    x = np.linspace(-87, 88, 20001).astype(np.float32)
    ref = np.exp(x.astype(np.float64))
    assert float(np.max(np.abs(ops.unary("exp", x) - ref) / ref)) < 3e-7


def test_vector_tanh_accuracy():
    """The inline vector tanh: within 3e-7 relative (both branches, near 0 and saturated)."""
    x = np.concatenate([np.linspace(-20, 20, 20001), np.linspace(-1e-3, 1e-3, 101), [0.0, 100.0]])
    x = x.astype(np.float32)
    ref = np.tanh(x.astype(np.float64))
    err = np.abs(ops.unary("tanh", x) - ref)
    assert float(np.max(err / np.maximum(np.abs(ref), 1e-30))) < 3e-7


@pytest.mark.parametrize("shape", [(1 << 15,), (40, 3, 700), (5, 7)])
def test_every_map_knob_setting_is_correct(shape, rng):
    """The data-parallel schedule is a function of MapKnobs: each point of the knob space
    (parallel or not, 1-D outputs cut into rows of each length) gives the same result."""
    from compiler.cpu.elementwise import binary, iteration_shape, unary
    from compiler.cpu.nest import default_map_knobs, map_knob_space

    x = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[-1]).astype(np.float32)
    it_unary = iteration_shape(shape, [shape])
    it_binary = iteration_shape(shape, [shape, (shape[-1],)])
    space = map_knob_space(it_unary)
    assert default_map_knobs(it_unary) in space
    for kn in space:
        y = np.empty_like(x)
        ops.kernel(("test_map_knobs", shape, kn), lambda kn=kn: unary("relu", shape, knobs=kn))(
            x, y
        )
        np.testing.assert_array_equal(y, np.maximum(x, 0))
    for kn in map_knob_space(it_binary):
        y = np.empty_like(x)
        k = ops.kernel(
            ("test_map_knobs_b", shape, kn), lambda kn=kn: binary("mul", shape, b.shape, knobs=kn)
        )
        k(x, b, y)
        np.testing.assert_array_equal(y, x * b)


def test_bad_map_knobs_name_the_knob():
    from compiler.cpu.elementwise import unary
    from compiler.cpu.nest import MapKnobs

    with pytest.raises(ValueError, match="relu: knob row=300"):
        unary("relu", (1024,), knobs=MapKnobs(True, 300))
    with pytest.raises(ValueError, match="relu: knob parallel=True"):
        unary("relu", (1024,), knobs=MapKnobs(True, 0))
