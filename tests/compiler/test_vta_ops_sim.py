"""Operators compiled for the accelerator and run on hw_sim, bit-exact against NumPy.

ResNet-18 conv layers C1-C12 (VTA's benchmark epilogue), dense, MobileNet grouped conv D1-D9,
fused epilogues (bias, shift, clip, relu, int8 residual), batch 2 and 4; at both configs. Each
kernel must also be portable (`run_portable`): the same DRAM under the three OUT-buffer
semantics and VTA fsim's scheduling order, and every rule of `hw_sim.hazards` holding.
"""

from __future__ import annotations

import numpy as np
import pytest
from vta_portable import run_portable
from vta_refs import (
    MIN_UNSATURATED,
    apply_steps,
    conv2d_nchw,
    epilogue,
    random_conv_inputs,
    unsaturated_epilogue,
    unsaturated_fraction,
)

from compiler.vta.build import build
from compiler.vta.ops import conv2d_op, dense_op
from hw_sim.isa import AluInsn, AluOp

pytestmark = pytest.mark.sim

# name: (H=W, in channels, out channels, kernel, stride), padding (k-1)/2
RESNET = {
    "C1": (224, 3, 64, 7, 2), "C2": (56, 64, 64, 3, 1), "C3": (56, 64, 64, 1, 1),
    "C4": (56, 64, 128, 3, 2), "C5": (56, 64, 128, 1, 2), "C6": (28, 128, 128, 3, 1),
    "C7": (28, 128, 256, 3, 2), "C8": (28, 128, 256, 1, 2), "C9": (14, 256, 256, 3, 1),
    "C10": (14, 256, 512, 3, 2), "C11": (14, 256, 512, 1, 2), "C12": (7, 512, 512, 3, 1),
}  # fmt: skip
# name: (H=W, in channels, out channels, groups, stride), 3x3, padding 1
MOBILENET = {
    "D1": (112, 32, 32, 2, 1), "D2": (112, 64, 64, 4, 2), "D3": (56, 128, 128, 8, 1),
    "D4": (56, 128, 128, 8, 2), "D5": (28, 256, 256, 16, 1), "D6": (28, 256, 256, 16, 2),
    "D7": (14, 512, 512, 32, 1), "D8": (14, 512, 512, 32, 2), "D9": (7, 1024, 1024, 64, 1),
}  # fmt: skip


def _run_conv(cfg, rng, n, h, ci, co, k, s, groups=1, **epi):
    pad = (k - 1) // 2
    residual = epi.pop("residual", False)
    # Unless a test picks its own epilogue: a shift and bias that leave most outputs unsaturated
    # (asserted below), so the low-order bits of every output are checked.
    centred = epi.get("bias", True) and "shift" not in epi and "clip" not in epi and not residual
    if centred:
        epi["shift"], bias = unsaturated_epilogue(rng, (ci // groups) * k * k, co)
    op = conv2d_op(cfg, n, ci, h, h, co, k, s, pad, groups=groups, residual=residual, **epi)
    kern = build(op, cfg)
    if epi.get("bias", True):
        alu_bias = [
            i
            for i in kern.program.insns
            if isinstance(i, AluInsn) and i.alu_op == AluOp.ADD and not i.use_imm
        ]
        # the bias goes where bias_on says: a tensor-tensor ALU ADD, or GEMM micro-ops
        assert bool(alu_bias) == (epi.get("bias_on", "gemm") == "alu" or residual)
    oh = (h + 2 * pad - k) // s + 1
    x, w, b, r = random_conv_inputs(
        rng, n, ci, h, h, co, k, groups, (n, co, oh, oh) if residual else None
    )
    if centred:
        b = bias
    inputs = dict(data=x, kernel=w)
    if epi.get("bias", True):
        inputs["bias"] = b
    if residual:
        inputs["residual"] = r
    y, stats = run_portable(kern, **inputs)
    acc = conv2d_nchw(x, w, s, pad, groups)
    ref = epilogue(
        acc,
        b if epi.get("bias", True) else None,
        epi.get("shift", 8),
        r,
        epi.get("clip", (0, 127)),
        epi.get("relu", False),
    )
    assert y.shape == ref.shape and y.dtype == np.int8
    np.testing.assert_array_equal(y, ref)
    if centred:
        assert unsaturated_fraction(ref) >= MIN_UNSATURATED
    assert stats.tokens_left == dict.fromkeys(stats.tokens_left, 0)
    return stats


@pytest.mark.parametrize("layer", list(RESNET))
def test_resnet_conv(cfg, rng, layer):
    h, ci, co, k, s = RESNET[layer]
    stats = _run_conv(cfg, rng, 1, h, ci, co, k, s)
    assert stats.gemm_uops > 0


# The layers of VTA's conv2d benchmark (scripts/bench_layers.py).
BENCH = ["C2", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12"]


@pytest.mark.parametrize("layer", BENCH)
def test_resnet_conv_alu_bias(cfg, rng, layer):
    """The benchmark layers with the bias added by the ALU (`bias_on="alu"`) instead of the
    default GEMM-unit bias: a tensor-tensor ADD of a bias tile loaded into the accumulator."""
    h, ci, co, k, s = RESNET[layer]
    stats = _run_conv(cfg, rng, 1, h, ci, co, k, s, bias_on="alu")
    assert stats.alu_uops > 0


@pytest.mark.parametrize("layer", list(MOBILENET))
def test_grouped_conv(cfg, rng, layer):
    h, ci, co, g, s = MOBILENET[layer]
    _run_conv(cfg, rng, 1, h, ci, co, 3, s, groups=g)


@pytest.mark.parametrize("batch", [2, 4])
def test_conv_batch(cfg, rng, batch):
    _run_conv(cfg, rng, batch, 14, 64, 64, 3, 1)


@pytest.mark.parametrize("batch", [2, 4])
def test_resnet_c11_batch(cfg, rng, batch):
    """A benchmark layer with a strided 1x1 kernel (C11) at batch 2 and 4."""
    h, ci, co, k, s = RESNET["C11"]
    _run_conv(cfg, rng, batch, h, ci, co, k, s)


@pytest.mark.parametrize(
    "epi",
    [
        dict(residual=True),
        dict(residual=True, bias_on="alu"),
        dict(bias=False, clip=None, relu=True),
        dict(shift=4, clip=(-20, 90)),
        dict(bias=False, shift=None, clip=(-128, 127)),
    ],
    ids=["bias-residual-clip", "alu-bias-residual-clip", "shift-relu", "shift4-clip", "clip-only"],
)
def test_fused_epilogues(cfg, rng, epi):
    _run_conv(cfg, rng, 1, 14, 2 * cfg.block_in, 2 * cfg.block_out, 3, 1, **dict(epi))


@pytest.mark.parametrize(
    "n,k,m",
    [
        (1, 128, 128),
        (16, 128, 128),
        (128, 128, 128),
        (1, 1024, 1000),
        (16, 1024, 1000),
        (128, 1024, 1000),
    ],
)
def test_dense(cfg, rng, n, k, m):
    shift, b = unsaturated_epilogue(rng, k, m)
    op = dense_op(cfg, n, k, m, bias=True, shift=shift)
    kern = build(op, cfg)
    x = rng.integers(-128, 128, (n, k)).astype(np.int8)
    w = rng.integers(-128, 128, (m, k)).astype(np.int8)
    y, _ = run_portable(kern, data=x, kernel=w, bias=b)
    ref = epilogue(x.astype(np.int64) @ w.astype(np.int64).T, b, shift)
    np.testing.assert_array_equal(y, ref)
    assert unsaturated_fraction(ref) >= MIN_UNSATURATED


def test_dense_alu_bias_and_residual(cfg, rng):
    op = dense_op(cfg, 16, 128, 128, bias=True, residual=True, bias_on="alu")
    kern = build(op, cfg)
    x = rng.integers(-128, 128, (16, 128)).astype(np.int8)
    w = rng.integers(-128, 128, (128, 128)).astype(np.int8)
    b = rng.integers(-(2**14), 2**14, (128,)).astype(np.int32)
    r = rng.integers(-128, 128, (16, 128)).astype(np.int8)
    y, _ = run_portable(kern, data=x, kernel=w, bias=b, residual=r)
    ref = epilogue(x.astype(np.int64) @ w.astype(np.int64).T, b, residual=r)
    np.testing.assert_array_equal(y, ref)


# vtac's quantized datapath (compiler/graph/ref/vtac_ops.py): bias before the shift, round half
# up, clip; and a residual added with a left shift.
STEP_LISTS = {
    "requantize": [("bias",), ("add_imm", 1 << 6), ("shr", 7), ("clip", -128, 127)],
    "residual-shift": [("shr", 8), ("residual", 2), ("add_imm", -3), ("relu",), ("min", 100)],
    "left-shift": [("shr", -1), ("max", -50), ("min", 50)],
    # shifts beyond VTA's portable -15..15 become several SHRs (run_portable checks the imms)
    "long-shifts": [("shr", 16), ("shr", -20), ("shr", 21), ("clip", -128, 127)],
}


@pytest.mark.parametrize("bias_on", ["gemm", "alu"])
@pytest.mark.parametrize("name", list(STEP_LISTS))
def test_epilogue_step_lists(cfg, rng, name, bias_on):
    steps = STEP_LISTS[name]
    n, ci, h, co = 1, 2 * cfg.block_in, 9, 2 * cfg.block_out
    op = conv2d_op(cfg, n, ci, h, h, co, 3, 2, 1, epilogue=steps, bias_on=bias_on)
    kern = build(op, cfg)
    oh = (h + 2 - 3) // 2 + 1
    x, w, b, r = random_conv_inputs(rng, n, ci, h, h, co, 3, 1, (n, co, oh, oh))
    b = (b // 4).astype(np.int32)  # keep the shifted sum in a useful range
    inputs = dict(data=x, kernel=w)
    if any(s[0] == "bias" for s in steps):
        inputs["bias"] = b
    if any(s[0] == "residual" for s in steps):
        inputs["residual"] = r
    y, _ = run_portable(kern, **inputs)
    np.testing.assert_array_equal(y, apply_steps(conv2d_nchw(x, w, 2, 1), steps, b, r))


@pytest.mark.parametrize(
    "shape,a_dtype,b_dtype,sa,sb,steps",
    [
        ((1, 64, 14, 14), "int8", "int8", 0, 0, [("relu",), ("min", 127)]),
        ((2, 32, 7, 7), "int8", "int32", 1, 0, [("add_imm", 1), ("shr", 1), ("clip", -128, 127)]),
        ((3, 100), "int32", "int8", 0, 2, [("shr", 2), ("clip", -100, 100)]),
        ((1, 48, 5, 5), "int32", None, 0, 0, [("shr", 4), ("max", -128), ("min", 127)]),
        # a plain copy: LOAD ACC rows must pass through the ALU before STORE to be portable
        ((1, 48, 5, 5), "int32", None, 0, 0, []),
        ((1, 16, 3, 3), "int8", "int8", 17, 0, [("shr", 17), ("clip", -128, 127)]),
    ],
    ids=["add-relu", "requantize-add", "dense-shape", "single-operand", "copy", "long-shift"],
)
def test_elementwise(cfg, rng, shape, a_dtype, b_dtype, sa, sb, steps):
    from compiler.vta.elementwise import elementwise_op

    op = elementwise_op(cfg, shape, a_dtype, b_dtype, sa, sb, epilogue=steps)
    kern = build(op, cfg)
    lim = 128 if a_dtype == "int8" else 5000
    a = rng.integers(-lim, lim, shape).astype(a_dtype)
    inputs = dict(a=a)
    acc = a.astype(np.int64) << sa
    if b_dtype is not None:
        b = rng.integers(-128, 128, shape).astype(b_dtype)
        inputs["b"] = b
        acc = acc + (b.astype(np.int64) << sb)
    y, _ = run_portable(kern, **inputs)
    np.testing.assert_array_equal(y, apply_steps(acc, steps))
