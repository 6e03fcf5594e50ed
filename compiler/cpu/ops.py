"""NumPy-level entry points of the CPU operators: arrays in, arrays out.

Each function builds the operator's loop IR with its default schedule (a function of knobs;
pass `knobs=` to override), compiles it once per distinct configuration (an in-process table
in front of the on-disk kernel cache) and runs it. Layout changes (NCHW <-> NCHWc) and
constant-weight packing happen here, around the kernels; `conv2d_nchwc_kernel` and friends
expose the raw blocked kernels for graphs that keep activations in NCHWc.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from compiler.cpu import conv2d as conv_mod
from compiler.cpu import dense as dense_mod
from compiler.cpu import elementwise as ew
from compiler.cpu import layout, pool, shape_ops
from compiler.cpu import resize as resize_mod
from compiler.cpu import softmax as softmax_mod
from compiler.cpu.conv2d_direct import conv2d_direct
from compiler.cpu.conv2d_fused import conv2d_nchw_fused
from compiler.cpu.depthwise import (
    default_depthwise_knobs,
    depthwise_nchwc,
    pack_depthwise_weight,
)
from compiler.cpu.runtime import CpuKernel, build
from compiler.llvm import vector_lanes, vector_registers

_kernels: dict[tuple, CpuKernel] = {}


def kernel(key: tuple, make: Callable[[], object]) -> CpuKernel:
    """The compiled kernel for `key`, building `make()` (a PrimFunc) on first use."""
    k = _kernels.get(key)
    if k is None:
        k = _kernels[key] = build(make())
    return k


# Packed forms of read-only weight arrays, keyed by identity: a graph's constant weights are
# rearranged once, not on every call (as onnxruntime prepacks). Writeable arrays are packed per
# call (they could change in place); an entry dies with its array.
_packed: dict[tuple, tuple[weakref.ref, np.ndarray]] = {}


def packed_weight(w: np.ndarray, how: tuple, pack: Callable[[], np.ndarray]) -> np.ndarray:
    if w.flags.writeable:
        return pack()
    key = (id(w), *how)
    hit = _packed.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    value = pack()
    _packed[key] = (weakref.ref(w, lambda _r, k=key: _packed.pop(k, None)), value)
    return value


def _f32(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


# ----- element-wise -------------------------------------------------------------------------
def unary(op: str, x: np.ndarray, **attrs) -> np.ndarray:
    x = _f32(x)
    k = kernel(
        ("unary", op, x.shape, tuple(sorted(attrs.items()))), lambda: ew.unary(op, x.shape, **attrs)
    )
    out = np.empty_like(x)
    k(x, out)
    return out


def binary(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = _f32(a), _f32(b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    k = kernel(("binary", op, a.shape, b.shape), lambda: ew.binary(op, a.shape, b.shape, shape))
    out = np.empty(shape, np.float32)
    k(a, b, out)
    return out


def batch_norm(x, gamma, beta, mean, var, eps: float = 1e-5) -> np.ndarray:
    x = _f32(x)
    k = kernel(("bn", x.shape, eps), lambda: ew.batch_norm(x.shape, eps))
    pshape = [1] * x.ndim
    pshape[1] = x.shape[1]
    params = [_f32(p).reshape(pshape) for p in (gamma, beta, mean, var)]
    out = np.empty_like(x)
    k(x, *params, out)
    return out


def quantize(x, scale: float, zero_point: int = 0, dtype: str = "int8") -> np.ndarray:
    x = _f32(x)
    k = kernel(
        ("quant", x.shape, scale, zero_point, dtype),
        lambda: ew.quantize(x.shape, scale, zero_point, dtype),
    )
    out = np.empty(x.shape, dtype)
    k(x, out)
    return out


def dequantize(q, scale: float, zero_point: int = 0) -> np.ndarray:
    q = np.ascontiguousarray(q)
    k = kernel(
        ("dequant", q.shape, scale, zero_point, q.dtype.name),
        lambda: ew.dequantize(q.shape, scale, zero_point, q.dtype.name),
    )
    out = np.empty(q.shape, np.float32)
    k(q, out)
    return out


def requantize(x, shift: int, lo: int = -128, hi: int = 127, round_half_up=False) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.int32)
    k = kernel(
        ("requant", x.shape, shift, lo, hi, round_half_up),
        lambda: ew.requantize(x.shape, shift, lo, hi, round_half_up),
    )
    out = np.empty(x.shape, np.int8)
    k(x, out)
    return out


# ----- convolution --------------------------------------------------------------------------
def _pairs(v, n=2) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, Sequence) else (v,) * n


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray | None = None,
    stride=1,
    pads=0,
    dilation=1,
    groups: int = 1,
    relu: bool = False,
    knobs: conv_mod.Conv2dKnobs | None = None,
) -> np.ndarray:
    """NCHW conv2d. `pads` is an int, (pad_h, pad_w) or (top, left, bottom, right).

    The NCHWc register-blocked kernel (pack, convolution and unpack in one call) when the pads
    are symmetric and the channel blocks fit (groups == 1 or whole blocks per group); for
    float32 depthwise the depthwise kernel; else the direct NCHW kernel. int8 inputs
    accumulate in int32 (bias int32), output int32.
    """
    stride, dilation = _pairs(stride), _pairs(dilation)
    p = _pairs(pads, 2) if not (isinstance(pads, Sequence) and len(pads) == 4) else tuple(pads)
    pads4 = (p[0], p[1], p[0], p[1]) if len(p) == 2 else p
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c != cg * groups:
        raise ValueError(
            f"conv2d: weight {w.shape} does not match {c} input channels / {groups} groups"
        )
    symmetric = pads4[0] == pads4[2] and pads4[1] == pads4[3]
    dtype = "int8" if x.dtype == np.int8 else "float32"
    acc = np.int32 if dtype == "int8" else np.float32
    if dtype == "int8":
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w, dtype=np.int8)
    else:
        x, w = _f32(x), _f32(w)
    shape = conv_mod.Conv2dShape(
        n, c, h, wd, o, kh, kw, stride, (pads4[0], pads4[1]), dilation, groups
    )
    lanes = vector_lanes()
    if dtype == "float32" and symmetric and groups == c == o and c % lanes == 0:
        return _depthwise(x, w, bias, shape, lanes, relu)
    kn = knobs or conv_mod.default_knobs(shape, lanes, vector_registers())
    blocked = (c // groups) % kn.ic_bn == 0 and (o // groups) % kn.oc_bn == 0
    if not symmetric or not blocked or (groups > 1 and (kn.ic_bn < lanes or kn.oc_bn < lanes)):
        return _conv_direct(x, w, bias, stride, pads4, dilation, groups, relu, dtype)
    k = kernel(
        ("conv_nchw", shape, kn, bias is not None, relu, dtype),
        lambda: conv2d_nchw_fused(shape, kn, bias is not None, relu, dtype),
    )
    oh, ow = shape.out_hw
    out = np.empty((n, o, oh, ow), acc)
    wp = packed_weight(w, ("conv", kn.ic_bn, kn.oc_bn),
                       lambda: layout.pack_conv_weight(w, kn.ic_bn, kn.oc_bn))  # fmt: skip
    args = [x, wp]
    if bias is not None:
        args.append(np.ascontiguousarray(bias, dtype=acc).reshape(-1, kn.oc_bn))
    k(*args, out)
    return out


def conv2d_pack(x: np.ndarray, bn: int, pad=(0, 0), out: np.ndarray | None = None) -> np.ndarray:
    """NCHW -> padded NCHWc, by the `layout.pack_nchwc` kernel (into `out` if given)."""
    n, c, h, w = x.shape
    k = kernel(("pack", x.shape, bn, tuple(pad)), lambda: layout.pack_nchwc(n, c, h, w, bn, pad))
    if out is None:
        out = np.empty((n, c // bn, h + 2 * pad[0], w + 2 * pad[1], bn), np.float32)
    k(_f32(x), out)
    return out


def conv2d_unpack(xb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """NCHWc -> NCHW by the `layout.unpack_nchwc` kernel (into `out` if given)."""
    n, cb, h, w, bn = xb.shape
    k = kernel(("unpack", xb.shape), lambda: layout.unpack_nchwc(n, cb * bn, h, w, bn))
    if out is None:
        out = np.empty((n, cb * bn, h, w), np.float32)
    k(xb, out)
    return out


def conv2d_nchwc_kernel(xb, wb, shape, knobs, bias_b=None, relu=False, out=None) -> np.ndarray:
    """Run the blocked kernel on already packed+padded data and packed weights."""
    k = kernel(
        ("conv_nchwc", shape, knobs, bias_b is not None, relu),
        lambda: conv_mod.conv2d_nchwc(shape, knobs, bias_b is not None, relu),
    )
    oh, ow = shape.out_hw
    if out is None:
        out = np.empty((shape.n, shape.o // knobs.oc_bn, oh, ow, knobs.oc_bn), np.float32)
    args = (xb, wb) + ((bias_b,) if bias_b is not None else ()) + (out,)
    k(*args)
    return out


def _depthwise(x, w, bias, shape, lanes, relu):
    kn = default_depthwise_knobs(shape, lanes)
    xb = conv2d_pack(x, kn.bn, shape.pad)
    k = kernel(
        ("dw", shape, kn, bias is not None, relu),
        lambda: depthwise_nchwc(shape, kn, bias is not None, relu),
    )
    oh, ow = shape.out_hw
    out = np.empty((shape.n, shape.c // kn.bn, oh, ow, kn.bn), np.float32)
    args = [xb, pack_depthwise_weight(w, kn.bn)]
    if bias is not None:
        args.append(_f32(bias).reshape(-1, kn.bn))
    k(*args, out)
    return conv2d_unpack(out)


def _conv_direct(x, w, bias, stride, pads4, dilation, groups, relu, dtype):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    key = (
        "direct",
        x.shape,
        w.shape,
        stride,
        pads4,
        dilation,
        groups,
        dtype,
        bias is not None,
        relu,
    )
    k = kernel(
        key,
        lambda: conv2d_direct(
            n, c, h, wd, o, kh, kw, stride, pads4, dilation, groups, dtype, bias is not None, relu
        ),
    )
    oh = (h + pads4[0] + pads4[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pads4[1] + pads4[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    acc = np.float32 if dtype == "float32" else np.int32
    out = np.empty((n, o, oh, ow), acc)
    args = [np.ascontiguousarray(x), np.ascontiguousarray(w)]
    if bias is not None:
        args.append(np.ascontiguousarray(bias, dtype=acc))
    k(*args, out)
    return out


# ----- dense / matmul -----------------------------------------------------------------------
def dense(x, w, bias=None, relu=False, knobs: dense_mod.DenseKnobs | None = None) -> np.ndarray:
    """`x [M, K] @ w [K, N] (+ bias [N])`, w treated as a constant (packed here).
    int8 x and w: int32 bias and result (quantized graphs)."""
    dtype = "int8" if x.dtype == np.int8 else "float32"
    if dtype == "float32":
        x, w = _f32(x), _f32(w)
    acc = np.float32 if dtype == "float32" else np.int32
    (m, kdim), n = x.shape, w.shape[1]
    kn = knobs or dense_mod.default_dense_knobs(m, kdim, n, vector_lanes())
    k = kernel(
        ("dense", m, kdim, n, kn, bias is not None, relu, dtype),
        lambda: dense_mod.dense(m, kdim, n, kn, bias=bias is not None, relu=relu, dtype=dtype),
    )
    out = np.empty((1, m, n), acc)
    wp = packed_weight(w, ("dense", kn.nb), lambda: dense_mod.pack_dense_weight(w, kn.nb))
    args = [np.ascontiguousarray(x)[None], wp[None]]
    if bias is not None:
        args.append(np.ascontiguousarray(bias, dtype=acc))
    k(*args, out)
    return out[0]


def matmul(a, b) -> np.ndarray:
    """NumPy `matmul` for 2-D or batched (broadcast leading axes) float operands."""
    a, b = _f32(a), _f32(b)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m, kdim, n = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = math.prod(lead)
    a3 = np.ascontiguousarray(np.broadcast_to(a, (*lead, m, kdim))).reshape(batch, m, kdim)
    b_batched = b.ndim > 2 and math.prod(b.shape[:-2]) > 1
    b3 = (
        np.ascontiguousarray(np.broadcast_to(b, (*lead, kdim, n))).reshape(batch, kdim, n)
        if b_batched
        else b.reshape(1, kdim, n)
    )
    kn = dense_mod.default_dense_knobs(m, kdim, n, vector_lanes())
    k = kernel(
        ("matmul", batch, m, kdim, n, b_batched),
        lambda: dense_mod.matmul(m, kdim, n, kn, batch, b_batched),
    )
    out = np.empty((batch, m, n), np.float32)
    k(a3, b3, out)
    return out.reshape(*lead, m, n)


# ----- pooling, softmax ---------------------------------------------------------------------
def max_pool(x, kernel_shape, stride=1, pads=0, dilation=1) -> np.ndarray:
    return _pool("max", x, kernel_shape, stride, pads, dilation, False)


def avg_pool(x, kernel_shape, stride=1, pads=0, count_include_pad=False) -> np.ndarray:
    return _pool("avg", x, kernel_shape, stride, pads, 1, count_include_pad)


def _pool(kind, x, kernel_shape, stride, pads, dilation, include):
    x = _f32(x)
    ks, st, dl = _pairs(kernel_shape), _pairs(stride), _pairs(dilation)
    p = _pairs(pads, 2) if not (isinstance(pads, Sequence) and len(pads) == 4) else tuple(pads)
    pads4 = (p[0], p[1], p[0], p[1]) if len(p) == 2 else p
    f = pool.pool2d(kind, x.shape, ks, st, pads4, dl, include)
    k = kernel((kind, x.shape, ks, st, pads4, dl, include), lambda: f)
    out = np.empty(tuple(int(d) for d in f.params[1].shape), np.float32)
    k(x, out)
    return out


def global_avg_pool(x) -> np.ndarray:
    x = _f32(x)
    k = kernel(("gap", x.shape), lambda: pool.global_avg_pool(x.shape))
    out = np.empty(x.shape[:2] + (1, 1), np.float32)
    k(x, out)
    return out


def softmax(x, axis: int = -1, log: bool = False) -> np.ndarray:
    x = _f32(x)
    k = kernel(
        ("softmax", x.shape, axis % x.ndim, log), lambda: softmax_mod.softmax(x.shape, axis, log)
    )
    out = np.empty_like(x)
    k(x, out)
    return out


# ----- data movement ------------------------------------------------------------------------
def reshape(x, shape) -> np.ndarray:
    x = np.ascontiguousarray(x)
    shape = tuple(np.empty(x.shape, dtype=np.bool_).reshape(shape).shape)  # resolves -1
    k = kernel(
        ("reshape", x.shape, shape, x.dtype.name),
        lambda: shape_ops.reshape(x.shape, shape, x.dtype.name),
    )
    out = np.empty(shape, x.dtype)
    k(x, out)
    return out


def transpose(x, perm) -> np.ndarray:
    x = np.ascontiguousarray(x)
    k = kernel(
        ("transpose", x.shape, tuple(perm), x.dtype.name),
        lambda: shape_ops.transpose(x.shape, perm, x.dtype.name),
    )
    out = np.empty([x.shape[p] for p in perm], x.dtype)
    k(x, out)
    return out


def concat(xs: Sequence[np.ndarray], axis: int) -> np.ndarray:
    xs = [np.ascontiguousarray(x) for x in xs]
    shapes = tuple(x.shape for x in xs)
    dt = xs[0].dtype.name
    f = shape_ops.concat(shapes, axis, dt)
    k = kernel(("concat", shapes, axis % xs[0].ndim, dt), lambda: f)
    out = np.empty(tuple(int(d) for d in f.params[-1].shape), xs[0].dtype)
    k(*xs, out)
    return out


def pad(x, pads: Sequence[tuple[int, int]], mode="constant", value=0.0) -> np.ndarray:
    x = np.ascontiguousarray(x)
    pads = tuple((int(b), int(e)) for b, e in pads)
    k = kernel(
        ("pad", x.shape, pads, mode, value, x.dtype.name),
        lambda: shape_ops.pad(x.shape, pads, mode, value, x.dtype.name),
    )
    out = np.empty([d + b + e for d, (b, e) in zip(x.shape, pads, strict=True)], x.dtype)
    k(x, out)
    return out


def slice_(x, slices: Sequence[slice]) -> np.ndarray:
    """`x[slices]` for one Python slice per leading axis (ONNX Slice after normalization)."""
    x = np.ascontiguousarray(x)
    slices = list(slices) + [slice(None)] * (x.ndim - len(slices))
    starts, steps, out_shape = [], [], []
    for s, d in zip(slices, x.shape, strict=True):
        rng = range(d)[s]
        starts.append(rng.start if len(rng) else 0)
        steps.append(rng.step)
        out_shape.append(len(rng))
    out = np.empty(out_shape, x.dtype)
    if out.size == 0:  # an empty slice (legal in ONNX) has nothing to compute
        return out
    key = ("slice", x.shape, tuple(starts), tuple(steps), tuple(out_shape), x.dtype.name)
    k = kernel(key, lambda: shape_ops.slice_op(x.shape, starts, steps, out_shape, x.dtype.name))
    k(x, out)
    return out


def resize(x, out_hw: tuple[int, int], method="nearest", mode=None, nearest_mode="floor"):
    """NCHW resize; `mode` is the ONNX coordinate_transformation_mode (default: asymmetric for
    nearest, half_pixel for bilinear)."""
    x = _f32(x)
    n, c, h, w = x.shape
    oh, ow = out_hw
    if method == "nearest":
        mode = mode or "asymmetric"
        tables = [
            resize_mod.nearest_table(oh, h, mode, nearest_mode),
            resize_mod.nearest_table(ow, w, mode, nearest_mode),
        ]
    else:
        mode = mode or "half_pixel"
        y0, y1, wy = resize_mod.linear_table(oh, h, mode)
        x0, x1, wx = resize_mod.linear_table(ow, w, mode)
        tables = [y0, y1, wy, x0, x1, wx]
    k = kernel(
        ("resize", x.shape, tuple(out_hw), method),
        lambda: resize_mod.resize(x.shape, out_hw, method),
    )
    out = np.empty((n, c, oh, ow), np.float32)
    k(x, *tables, out)
    return out


# ----- the accelerator's blocked layout (graph ops vtac.pack / vtac.unpack, batch block 1) -----
def pack_blocked(x: np.ndarray, bc: int) -> np.ndarray:
    """NCHW -> [N, C/bc, H, W, 1, bc] (channels zero-padded to a multiple of `bc`, by NumPy; the
    reorder by the `layout.pack_nchwc` kernel)."""
    n, c, h, w = x.shape
    pc = -(-c // bc) * bc
    if pc != c:
        x = np.pad(x, ((0, 0), (0, pc - c), (0, 0), (0, 0)))
    x = np.ascontiguousarray(x)
    dt = x.dtype.name
    k = kernel(
        ("pack_blocked", x.shape, bc, dt), lambda: layout.pack_nchwc(n, pc, h, w, bc, dtype=dt)
    )
    out = np.empty((n, pc // bc, h, w, bc), x.dtype)
    k(x, out)
    return out.reshape(n, pc // bc, h, w, 1, bc)


def unpack_blocked(xb: np.ndarray, c: int) -> np.ndarray:
    """[N, C/bc, H, W, 1, bc] -> NCHW with the first `c` channels."""
    n, cb, h, w, _, bc = xb.shape
    dt = xb.dtype.name
    k = kernel(
        ("unpack_blocked", xb.shape, dt),
        lambda: layout.unpack_nchwc(n, cb * bc, h, w, bc, dtype=dt),
    )
    out = np.empty((n, cb * bc, h, w), xb.dtype)
    k(np.ascontiguousarray(xb.reshape(n, cb, h, w, bc)), out)
    return out if c == cb * bc else np.ascontiguousarray(out[:, :c])
