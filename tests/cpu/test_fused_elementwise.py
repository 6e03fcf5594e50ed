"""The fused boundary kernel (`vtac.fused_elementwise`): bit-exact against the same steps run one
by one, with the reference kernels (the definition) and with the single-node CPU kernels."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cpu.fused_elementwise import FuseError, fused_elementwise
from compiler.cpu.graph_kernels import CPU_KERNELS
from compiler.graph.ref import KERNELS, KernelCtx
from compiler.graph.ref.fused import FUSED_OP, step_args
from compiler.graph.ref.vtac_ops import pack_array

ACTIVATIONS = {
    "silu": [("Sigmoid", ("s1",), {}), ("Mul", ("s1", "s2"), {})],
    "hard_swish": [("HardSwish", ("s1",), {})],
    "leaky_relu": [("LeakyRelu", ("s1",), {"alpha": 0.1})],
    "hard_sigmoid": [("HardSigmoid", ("s1",), {"alpha": 0.2, "beta": 0.5})],
    "tanh": [("Tanh", ("s1",), {})],
    "relu": [("Relu", ("s1",), {})],
}


def _step(op, inputs, attrs):
    return {"op": op, "inputs": tuple(inputs), "attrs": dict(attrs)}


def boundary_chain(act: str, c: int, exp_in: int, exp_out: int, bc: int) -> tuple:
    """unpack -> dequantize -> activation -> quantize -> pack."""
    body = [_step(*s) for s in ACTIVATIONS[act]]
    k = 1 + len(body)
    return (
        _step("vtac.unpack", ("i0",), {"n": 1, "c": c}),
        _step("vtac.dequantize", ("s0",), {"exp": exp_in}),
        *body,
        _step("vtac.quantize", (f"s{k}",), {"exp": exp_out}),
        _step("vtac.pack", (f"s{k + 1}",), {"bn": 1, "bc": bc}),
    )


def run_both(steps, *xs, consts=None):
    ctx = KernelCtx({"steps": steps, "consts": consts or {}}, 13, "fused", FUSED_OP)
    return CPU_KERNELS[FUSED_OP](ctx, *xs), KERNELS[FUSED_OP](ctx, *xs)


def run_unfused_llvm(steps, *xs):
    """The same steps as separate single-node CPU (LLVM) kernels: the unfused launches."""
    results = []
    for k, st in enumerate(steps):
        ctx = KernelCtx(st["attrs"], 13, f"n{k}", st["op"])
        results.append(CPU_KERNELS[st["op"]](ctx, *step_args(st, xs, results)))
    return results[-1]


def packed_int8(rng, c: int, h: int, w: int, bc: int) -> np.ndarray:
    """A blocked int8 tensor as the accelerator writes it: padded channels zero."""
    return pack_array(rng.integers(-128, 128, (1, c, h, w)).astype(np.int8), 1, bc)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize(("exp_in", "exp_out"), [(-7, -7), (-5, -3), (-2, -6), (0, -4)])
def test_every_int8_input_exact(act, exp_in, exp_out):
    # int8 in: 256 possible inputs, all of them in every lane of a 16-channel block
    x = np.tile(np.arange(-128, 128).astype(np.int8).reshape(1, 1, 16, 16, 1, 1), (1,) * 5 + (16,))
    steps = boundary_chain(act, 16, exp_in, exp_out, 16)
    fused, ref = run_both(steps, x)
    assert fused.dtype == np.int8 and fused.shape == x.shape
    np.testing.assert_array_equal(fused, ref)
    np.testing.assert_array_equal(fused, run_unfused_llvm(steps, x))


@pytest.mark.parametrize("c", [3, 24, 40])
def test_padded_channels_written_zero(c, cfg, rng):
    bc = cfg.block
    x = packed_int8(rng, c, 5, 7, bc)
    # HardSigmoid(0) = 0.5: a padded lane computed like the others would be nonzero
    steps = boundary_chain("hard_sigmoid", c, -4, -6, bc)
    fused, ref = run_both(steps, x)
    np.testing.assert_array_equal(fused, ref)
    flat = fused.transpose(0, 4, 1, 5, 2, 3).reshape(1, -1, 5, 7)
    assert not flat[:, c:].any() and flat[:, :c].any()


def test_add_of_two_tensors_and_partial_chains(cfg, rng):
    bc, c = cfg.block, 24
    x = packed_int8(rng, c, 6, 5, bc)
    other = rng.standard_normal((1, c, 6, 5)).astype(np.float32) * 4
    add = (
        _step("vtac.unpack", ("i0",), {"n": 1, "c": c}),
        _step("vtac.dequantize", ("s0",), {"exp": -4}),
        _step("Sigmoid", ("s1",), {}),
        _step("Mul", ("s1", "s2"), {}),
        _step("Add", ("s3", "i1"), {}),
    )  # float NCHW out: the residual of a C2f bottleneck
    fused, ref = run_both(add, x, other)
    assert fused.shape == (1, c, 6, 5) and fused.dtype == np.float32
    # A float result: LLVM's sigmoid (1 / (1 + exp(-x)), inline vector exp) and NumPy's differ
    # in the last bits; the same single-node LLVM kernels agree exactly.
    np.testing.assert_allclose(fused, ref, rtol=4e-6, atol=1e-6)
    np.testing.assert_array_equal(fused, run_unfused_llvm(add, x, other))
    unpack = add[:2]  # packed int8 -> float NCHW
    np.testing.assert_array_equal(*run_both(unpack, x))
    quant = (
        _step("Add", ("i0", "i1"), {}),
        _step("vtac.quantize", ("s0",), {"exp": -3}),
        _step("vtac.pack", ("s1",), {"bn": 1, "bc": bc}),
    )  # float NCHW -> packed int8
    fused, ref = run_both(quant, other, other[:, :, :1])  # a broadcast operand too
    np.testing.assert_array_equal(fused, ref)


def test_clip_bounds_are_immediates(rng):
    x = packed_int8(rng, 32, 4, 4, 16)
    steps = (
        _step("vtac.unpack", ("i0",), {"n": 1, "c": 32}),
        _step("vtac.dequantize", ("s0",), {"exp": -4}),
        _step("Clip", ("s1", "i1", "i2"), {}),
        _step("vtac.quantize", ("s2",), {"exp": -5}),
        _step("vtac.pack", ("s3",), {"bn": 1, "bc": 16}),
    )
    lo, hi = np.array(0.0, np.float32), np.array(6.0, np.float32)
    fused, ref = run_both(steps, x, lo, hi, consts={1: 0.0, 2: 6.0})
    np.testing.assert_array_equal(fused, ref)
    assert fused.max() > 0 and fused.min() == 0
    with pytest.raises(FuseError, match="Clip bounds"):
        fused_elementwise(steps, [(x.shape, "int8"), ((), "float32"), ((), "float32")])


def test_rejects_what_it_cannot_fuse():
    x_t = ((1, 2, 4, 4, 1, 16), "int8")
    with pytest.raises(FuseError, match="not fusable"):
        fused_elementwise([_step("Softmax", ("i0",), {})], [((1, 4), "float32")])
    with pytest.raises(FuseError, match="unpack must come first"):
        fused_elementwise([_step("Relu", ("i0",), {}), _step("vtac.unpack", ("s0",), {})],
                          [((1, 4), "float32")])  # fmt: skip
    bad_shape = (_step("vtac.unpack", ("i0",), {"n": 1, "c": 32}),
                 _step("vtac.dequantize", ("s0",), {"exp": 0}),
                 _step("Add", ("s1", "i1"), {}))  # fmt: skip
    with pytest.raises(FuseError, match="differs from the chain"):
        fused_elementwise(bad_shape, [x_t, ((2, 32, 4, 4), "float32")])
