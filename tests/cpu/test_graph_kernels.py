"""Every CPU graph kernel against the reference kernel of the same op (same ctx, same inputs):
int8 ops bit-exact, float32 within 1e-4 of the output scale."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cpu.graph_kernels import CPU_KERNELS
from compiler.graph.ref import KERNELS, KernelCtx, KernelError

R = np.random.default_rng(5)


def f32(*shape, scale=1.0):
    return (R.standard_normal(shape) * scale).astype(np.float32)


def i8(*shape):
    return R.integers(-128, 128, shape).astype(np.int8)


X = f32(2, 16, 9, 10)
CASES = [
    ("Relu", {}, [X]), ("Sigmoid", {}, [X]), ("Tanh", {}, [X]), ("HardSwish", {}, [X]),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, [X]), ("LeakyRelu", {"alpha": 0.1}, [X]),
    ("Clip", {}, [X, np.float32(-0.5), np.float32(0.7)]), ("Identity", {}, [X]),
    ("Add", {}, [X, f32(16, 1, 1)]), ("Sub", {}, [X, f32(10)]), ("Mul", {}, [X, X]),
    ("Div", {}, [X, f32(1, 16, 1, 1) + 4]), ("Max", {}, [X, f32(10), f32(9, 1)]),
    ("BatchNormalization", {"epsilon": 1e-3},
     [X, f32(16), f32(16), f32(16), np.abs(f32(16)) + 0.5]),
    ("Conv", {"pads": [1, 1, 1, 1], "strides": [2, 2]}, [X, f32(32, 16, 3, 3), f32(32)]),
    ("Conv", {"auto_pad": "SAME_UPPER", "group": 4}, [X, f32(8, 4, 3, 3)]),
    ("Conv", {"group": 16, "pads": [1, 1, 1, 1]}, [X, f32(16, 1, 3, 3)]),
    ("MatMul", {}, [f32(3, 7, 20), f32(20, 24)]),
    ("Gemm", {"transB": 1}, [f32(5, 12), f32(16, 12), f32(16)]),
    ("Gemm", {"alpha": 0.5, "beta": 2.0, "transA": 1}, [f32(12, 5), f32(12, 16), f32(5, 16)]),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, [X]),
    ("AveragePool", {"kernel_shape": [2, 3], "pads": [0, 1, 0, 1]}, [X]),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, [X]),
    ("GlobalAveragePool", {}, [X]),
    ("Softmax", {"axis": 1}, [X]), ("LogSoftmax", {}, [f32(4, 30)]),
    ("Reshape", {}, [X, np.array([0, -1, 10], np.int64)]), ("Flatten", {"axis": 2}, [X]),
    ("Transpose", {"perm": [0, 2, 3, 1]}, [X]), ("Transpose", {}, [f32(3, 4, 5)]),
    ("Concat", {"axis": 1}, [X, f32(2, 3, 9, 10)]),
    ("Slice", {}, [X, np.array([1, -3]), np.array([100, 1]), np.array([1, 3]), np.array([2, -2])]),
    ("Pad", {"mode": "reflect"}, [X, np.array([0, 0, 2, 1, 0, 0, 1, 3])]),
    ("Pad", {}, [X, np.array([0, 1, 0, 0, 0, 2, 1, 1]), np.float32(0.5)]),
    ("Resize", {"mode": "linear"}, [X, None, np.array([1, 1, 2.0, 1.5], np.float32)]),
    ("Resize", {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                "nearest_mode": "floor"}, [X, None, None, np.array([2, 16, 5, 20])]),
    ("QuantizeLinear", {}, [X, np.float32(0.02), np.int8(3)]),
    ("DequantizeLinear", {}, [i8(40), np.float32(0.1), np.int8(-2)]),
    ("vtac.quantize", {"exp": -5}, [X]), ("vtac.dequantize", {"exp": -3}, [i8(5, 7)]),
    ("vtac.requantize", {"shift": 7, "lo": 0, "hi": 127},
     [R.integers(-(2**12), 2**14, (6, 9)).astype(np.int32)]),  # mostly inside 0..127
    ("vtac.requantize", {"shift": -2, "lo": -128, "hi": 127},
     [R.integers(-36, 36, (6, 9)).astype(np.int32)]),
    ("vtac.conv2d", {"pads": [1, 0, 1, 2], "strides": [1, 2]},
     [i8(1, 8, 7, 9), i8(16, 8, 3, 3), R.integers(-999, 999, 16).astype(np.int32)]),
    ("vtac.dense", {}, [i8(5, 40), i8(24, 40), R.integers(-999, 999, 24).astype(np.int32)]),
]  # fmt: skip


def _quantize_linear(ctx, x, scale, zp):  # ONNX semantics; not in the reference table
    return np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8)


def _dequantize_linear(ctx, q, scale, zp):
    return ((q.astype(np.int32) - np.int32(zp)) * scale).astype(np.float32)


LOCAL_REF = {"QuantizeLinear": _quantize_linear, "DequantizeLinear": _dequantize_linear}


@pytest.mark.parametrize("op,attrs,inputs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_cpu_kernel_matches_the_reference(op, attrs, inputs):
    ctx = KernelCtx(attrs, 17, f"n_{op}", op)
    args = list(inputs)
    while args and args[-1] is None:
        args.pop()
    ref = np.asarray((KERNELS.get(op) or LOCAL_REF[op])(ctx, *args))
    got = np.asarray(CPU_KERNELS[op](ctx, *args))
    assert got.shape == ref.shape and got.dtype == ref.dtype
    if op == "vtac.requantize":  # saturated outputs would hide rounding and shift errors
        assert np.mean((ref > attrs["lo"]) & (ref < attrs["hi"])) >= 0.6
    if np.issubdtype(ref.dtype, np.integer):
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def test_unsupported_variants_name_the_node():
    ctx = KernelCtx({"kernel_shape": [2, 2], "ceil_mode": 1}, 17, "pool7", "MaxPool")
    with pytest.raises(KernelError, match="pool7.*ceil_mode"):
        CPU_KERNELS["MaxPool"](ctx, X)
    ctx = KernelCtx({}, 17, "relu3", "Relu")
    with pytest.raises(KernelError, match="relu3.*float32"):
        CPU_KERNELS["Relu"](ctx, X.astype(np.float64))
