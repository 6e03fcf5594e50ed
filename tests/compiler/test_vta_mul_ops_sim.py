"""HardSwish and element-wise Mul on the ALU's MUL (configs with ALU_MUL), on hw_sim at the
default and small configs: bit-exact against the graph's reference semantics, every program
portable but for its MUL micro-ops."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.lower_group import _requantize_steps
from compiler.driver.mul_epilogue import drop_idle_clips, hardswish_values
from compiler.graph.hardswish_int import hardswish_int, reference
from compiler.graph.ir import Node
from compiler.graph.ref.vtac_ops import requantize_array
from compiler.vta.build import build
from compiler.vta.mul_ops import hardswish_op, mul_op
from hw_sim.isa import AluInsn, AluOp
from runtime.device import get_device
from tests.compiler.mul_portable import assert_portable_but_mul
from tests.model.mul_blocks import mul_config

pytestmark = pytest.mark.sim


@pytest.fixture(params=("default", "small"))
def mcfg(request):
    return mul_config(request.param)


def _steps(shift: int) -> list[tuple]:
    node = Node("r", "vtac.requantize", ("a",), ("b",), {"shift": shift, "lo": -128, "hi": 127})
    return _requantize_steps(node)


def _run(cfg, kern, **inputs):
    dev = get_device("hw_sim", cfg)
    dev.load(kern.program)
    for name, a in kern.pack_inputs(**inputs).items():
        dev.write(name, a)
    muls = assert_portable_but_mul(kern.program, dev.dram, kern.op.name)
    assert muls == sum(isinstance(i, AluInsn) and i.alu_op == AluOp.MUL for i in kern.program.insns)
    return kern.run(dev, **inputs)[0]


def _all_int8(shape, rng) -> np.ndarray:
    """A tensor holding every int8 value (then random ones)."""
    x = rng.integers(-128, 128, int(np.prod(shape)))
    k = min(256, x.size)
    x[:k] = np.arange(-128, 128)[:k]
    return x.reshape(shape).astype(np.int8)


HARDSWISH_CASES = [(-4, -4, 1.0, 0.0), (-4, -5, 1.0, 0.0), (-5, -3, 1.0, 0.0), (-7, -6, 1.0, 0.0),
                   (0, 0, 1.0, 0.0), (-4, -3, -1.3, 0.4), (-5, -5, 0.7, -0.2)]  # fmt: skip


def _hardswish_args(hs) -> tuple[int, ...]:
    return (hs.offset, hs.six, hs.mult, hs.pre_shift, hs.bias)


@pytest.mark.parametrize("ex,ey,s,t", HARDSWISH_CASES)
def test_hardswish_every_int8_value(mcfg, rng, ex, ey, s, t):
    hs = hardswish_int(ex, ey, s, t)
    shape = (1, 2 * mcfg.block, 4, 5)
    steps = drop_idle_clips(_steps(hs.shift), hardswish_values(*_hardswish_args(hs)))
    op = hardswish_op(mcfg, shape, *_hardswish_args(hs), steps)
    x = _all_int8(shape, rng)
    np.testing.assert_array_equal(_run(mcfg, build(op, mcfg), a=x), reference(x, hs))


@pytest.mark.parametrize("shape", [(1, 40, 3, 7), (2, 16, 3, 3), (4, 48)])
def test_mul_same_shape(mcfg, rng, shape):
    for shift in (7, 0, -2):
        op = mul_op(mcfg, shape, shape, _steps(shift))
        a, b = _all_int8(shape, rng), rng.integers(-128, 128, shape).astype(np.int8)
        want = requantize_array(a.astype(np.int64) * b, shift, -128, 127)
        np.testing.assert_array_equal(_run(mcfg, build(op, mcfg), a=a, b=b), want)


@pytest.mark.parametrize("shape", [(1, 40, 3, 7), (2, 24, 4, 4)])
def test_mul_channel_gate(mcfg, rng, shape):
    gate_shape = (*shape[:2], 1, 1)
    op = mul_op(mcfg, shape, gate_shape, _steps(7))
    a, g = _all_int8(shape, rng), rng.integers(0, 128, gate_shape).astype(np.int8)
    want = requantize_array(a.astype(np.int64) * g, 7, -128, 127)
    np.testing.assert_array_equal(_run(mcfg, build(op, mcfg), a=a, b=g), want)


def test_mul_shape_errors_name_the_operator(mcfg):
    with pytest.raises(ValueError, match="m1: b .* is neither"):
        mul_op(mcfg, (1, 16, 4, 4), (1, 16, 4, 1), _steps(7), name="m1")


@pytest.mark.parametrize("ex,ey,s,t", [(-4, -4, 1.0, 0.0), (-5, -4, 0.8, 0.3)])
def test_conv_with_hardswish_epilogue(mcfg, rng, ex, ey, s, t):
    """conv -> requantize -> HardSwish -> requantize in one launch (the fused epilogue)."""
    from compiler.driver.mul_epilogue import drop_idle_clips_after_hardswish
    from compiler.graph.ref.nn import conv_nd
    from compiler.vta.ops import conv2d_op

    hs = hardswish_int(ex, ey, s, t)
    n, ci, h, co = 1, 2 * mcfg.block, 6, 2 * mcfg.block
    steps = drop_idle_clips_after_hardswish(
        [("bias",), *_steps(6), ("hardswish", *_hardswish_args(hs)), *_steps(hs.shift)]
    )
    assert steps[-1][0] != "clip"  # HardSwish's result needs no clamp at these exponents
    op = conv2d_op(mcfg, n, ci, h, h, co, 3, 1, 1, epilogue=steps, name="conv_hs")
    x = rng.integers(-128, 128, (n, ci, h, h)).astype(np.int8)
    w = rng.integers(-128, 128, (co, ci, 3, 3)).astype(np.int8)
    b = rng.integers(-5000, 5000, co).astype(np.int32)
    acc = conv_nd(x, w, [1, 1], [1, 1], [1, 1], [1, 1], 1, acc_dtype=np.float64).astype(np.int64)
    q = requantize_array(acc + b[None, :, None, None], 6, -128, 127)
    y = _run(mcfg, build(op, mcfg), data=x, kernel=w, bias=b)
    np.testing.assert_array_equal(y, reference(q, hs))
