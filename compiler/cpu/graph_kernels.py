"""Graph-IR ops on the CPU path: `CPU_KERNELS[op](ctx, *inputs)`, the same calling convention as
the reference kernels (`compiler.graph.ref.KERNELS`), so a graph executor can swap one table for
the other node by node.

Each entry maps an op's ONNX (or `vtac.*`) semantics onto the compiled operators of
`compiler.cpu.ops`; an attribute combination the CPU kernels do not cover raises the
reference's `KernelError` naming the node and what is supported. Tests check every entry
against the reference kernel of the same op.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.cpu import ops
from compiler.graph.ref import KernelCtx
from compiler.graph.ref.nn import conv_pads

CPU_KERNELS: dict[str, Callable] = {}


def cpu_kernel(*names: str):
    def register(fn):
        for n in names:
            CPU_KERNELS[n] = fn
        return fn

    return register


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _float32(ctx: KernelCtx, *xs):
    for x in xs:
        if x is not None and np.asarray(x).dtype != np.float32:
            raise ctx.error(f"the CPU kernels take float32 here, got {np.asarray(x).dtype}")


# ----- element-wise -------------------------------------------------------------------------
_UNARY = {
    "Relu": ("relu", {}), "Sigmoid": ("sigmoid", {}), "Tanh": ("tanh", {}),
    "HardSwish": ("hard_swish", {}), "Exp": ("exp", {}), "Log": ("log", {}),
    "Sqrt": ("sqrt", {}), "Abs": ("abs", {}), "Neg": ("neg", {}),
    "Identity": ("identity", {}),
}  # fmt: skip


def _unary_kernel(op: str):
    name, _ = _UNARY[op]

    def run(ctx: KernelCtx, x):
        _float32(ctx, x)
        return ops.unary(name, x)

    return run


for _op in _UNARY:
    CPU_KERNELS[_op] = _unary_kernel(_op)


@cpu_kernel("HardSigmoid")
def hard_sigmoid(ctx, x):
    _float32(ctx, x)
    return ops.unary("hard_sigmoid", x, alpha=float(ctx.attr("alpha", 0.2)),
                     beta=float(ctx.attr("beta", 0.5)))  # fmt: skip


@cpu_kernel("LeakyRelu")
def leaky_relu(ctx, x):
    _float32(ctx, x)
    return ops.unary("leaky_relu", x, alpha=float(ctx.attr("alpha", 0.01)))


@cpu_kernel("Clip")
def clip(ctx, x, lo=None, hi=None):
    _float32(ctx, x)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min", None), ctx.attr("max", None)
    lo = float(np.asarray(lo).ravel()[0]) if lo is not None and np.size(lo) else float("-inf")
    hi = float(np.asarray(hi).ravel()[0]) if hi is not None and np.size(hi) else float("inf")
    return ops.unary("clip", x, min=lo, max=hi)


_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow"}


def _binary_kernel(name: str):
    def run(ctx: KernelCtx, a, b):
        _float32(ctx, a, b)
        return ops.binary(name, a, b)

    return run


for _op, _name in _BINARY.items():
    CPU_KERNELS[_op] = _binary_kernel(_name)


@cpu_kernel("Max", "Min")
def max_min(ctx, *xs):
    _float32(ctx, *xs)
    out = xs[0]
    for x in xs[1:]:
        out = ops.binary("max" if ctx.op == "Max" else "min", out, x)
    return out


@cpu_kernel("BatchNormalization")
def batch_norm(ctx, x, scale, bias, mean, var):
    _float32(ctx, x)
    if ctx.attr("training_mode", 0):
        raise ctx.error("training_mode=1 is not supported (inference only)")
    return ops.batch_norm(x, scale, bias, mean, var, float(ctx.attr("epsilon", 1e-5)))


@cpu_kernel("QuantizeLinear")
def quantize_linear(ctx, x, scale, zero_point=None):
    _float32(ctx, x)
    if np.size(scale) != 1 or (zero_point is not None and np.size(zero_point) != 1):
        raise ctx.error("per-axis quantization is not supported on the CPU (per-tensor is)")
    dtype = "int8" if zero_point is None or zero_point.dtype == np.int8 else "uint8"
    if zero_point is not None and zero_point.dtype not in (np.int8, np.uint8):
        raise ctx.error(f"zero point of type {zero_point.dtype} (int8 and uint8 are supported)")
    zp = 0 if zero_point is None else int(np.asarray(zero_point).ravel()[0])
    return ops.quantize(x, float(np.asarray(scale).ravel()[0]), zp, dtype)


@cpu_kernel("DequantizeLinear")
def dequantize_linear(ctx, q, scale, zero_point=None):
    if np.size(scale) != 1 or (zero_point is not None and np.size(zero_point) != 1):
        raise ctx.error("per-axis dequantization is not supported on the CPU (per-tensor is)")
    zp = 0 if zero_point is None else int(np.asarray(zero_point).ravel()[0])
    return ops.dequantize(q, float(np.asarray(scale).ravel()[0]), zp)


# ----- convolution, dense, pooling ----------------------------------------------------------
@cpu_kernel("Conv")
def conv(ctx, x, w, b=None):
    _float32(ctx, x, w, b)
    if x.ndim != 4:
        raise ctx.error(f"{x.ndim - 2}-d convolution is not supported on the CPU (2-d is)")
    ksz = list(ctx.attr("kernel_shape", w.shape[2:]))
    strides = tuple(ctx.attr("strides", (1, 1)))
    dil = tuple(ctx.attr("dilations", (1, 1)))
    pb, pe = conv_pads(ctx, x.shape[2:], ksz, strides, dil)
    return ops.conv2d(x, w, b, strides, (pb[0], pb[1], pe[0], pe[1]), dil,
                      int(ctx.attr("group", 1)))  # fmt: skip


@cpu_kernel("MatMul")
def matmul(ctx, a, b):
    _float32(ctx, a, b)
    if a.ndim < 2 or b.ndim < 2:
        raise ctx.error("1-d MatMul operands are not supported on the CPU")
    return ops.matmul(a, b)


@cpu_kernel("Gemm")
def gemm(ctx, a, b, c=None):
    _float32(ctx, a, b, c)
    a = a.T if ctx.attr("transA", 0) else a
    b = b.T if ctx.attr("transB", 0) else b
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    vector_bias = c is not None and beta == 1.0 and c.ndim == 1 and c.shape[0] == b.shape[1]
    out = ops.dense(a, b, c if vector_bias and alpha == 1.0 else None)
    if alpha != 1.0:
        out = ops.binary("mul", out, np.float32(alpha))
    if c is not None and not (vector_bias and alpha == 1.0):
        out = ops.binary("add", out, c if beta == 1.0 else ops.binary("mul", c, np.float32(beta)))
    return out


def _pool_args(ctx, x):
    if x.ndim != 4:
        raise ctx.error(f"{x.ndim - 2}-d pooling is not supported on the CPU (2-d is)")
    if ctx.attr("ceil_mode", 0):
        raise ctx.error("ceil_mode=1 is not supported on the CPU")
    ksz = list(ctx.attr("kernel_shape"))
    strides = tuple(ctx.attr("strides", (1, 1)))
    dil = tuple(ctx.attr("dilations", (1, 1)))
    pb, pe = conv_pads(ctx, x.shape[2:], ksz, strides, dil)
    return ksz, strides, (pb[0], pb[1], pe[0], pe[1]), dil


@cpu_kernel("MaxPool")
def max_pool(ctx, x):
    _float32(ctx, x)
    if ctx.num_outputs > 1 or ctx.attr("storage_order", 0):
        raise ctx.error("MaxPool indices output is not supported on the CPU")
    ksz, strides, pads, dil = _pool_args(ctx, x)
    return ops.max_pool(x, ksz, strides, pads, dil)


@cpu_kernel("AveragePool")
def average_pool(ctx, x):
    _float32(ctx, x)
    ksz, strides, pads, dil = _pool_args(ctx, x)
    if dil != (1, 1):
        raise ctx.error("dilated average pooling is not supported on the CPU")
    return ops.avg_pool(x, ksz, strides, pads, bool(ctx.attr("count_include_pad", 0)))


@cpu_kernel("GlobalAveragePool")
def global_average_pool(ctx, x):
    _float32(ctx, x)
    if x.ndim != 4:
        raise ctx.error("GlobalAveragePool on the CPU takes NCHW input")
    return ops.global_avg_pool(x)


@cpu_kernel("Softmax", "LogSoftmax")
def softmax(ctx, x):
    _float32(ctx, x)
    log = ctx.op == "LogSoftmax"
    if ctx.opset < 13:
        axis = int(ctx.attr("axis", 1)) % max(x.ndim, 1)
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        return ops.softmax(x.reshape(rows, -1), 1, log).reshape(x.shape)
    return ops.softmax(x, int(ctx.attr("axis", -1)), log)


# ----- data movement ------------------------------------------------------------------------
@cpu_kernel("Reshape")
def reshape(ctx, x, shape):
    shape = [int(s) for s in np.atleast_1d(shape)]
    if not ctx.attr("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return ops.reshape(x, shape)


@cpu_kernel("Flatten")
def flatten(ctx, x):
    axis = int(ctx.attr("axis", 1)) % (x.ndim + 1) if x.ndim else 0
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    return ops.reshape(x, (rows, -1))


@cpu_kernel("Transpose")
def transpose(ctx, x):
    perm = ctx.attr("perm", None)
    return ops.transpose(x, tuple(perm) if perm is not None else tuple(reversed(range(x.ndim))))


@cpu_kernel("Concat")
def concat(ctx, *xs):
    return ops.concat([x for x in xs if x is not None], int(ctx.attr("axis")))


@cpu_kernel("Slice")
def slice_(ctx, x, starts, ends, axes=None, steps=None):
    starts = [int(s) for s in np.atleast_1d(starts)]
    ends = [int(e) for e in np.atleast_1d(ends)]
    axes = list(range(len(starts))) if axes is None else [int(a) % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    sl = [slice(None)] * x.ndim
    big = np.iinfo(np.int64).max // 2
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        # Python slices clamp exactly as ONNX does, once "to the end" sentinels are mapped.
        e = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else e
        sl[a] = slice(s, e, st)
    return ops.slice_(x, sl)


@cpu_kernel("Pad")
def pad(ctx, x, pads=None, value=None, axes=None):
    mode = _s(ctx.attr("mode", "constant"))
    if ctx.opset < 11:
        pads, value = ctx.attr("pads"), ctx.attr("value", 0.0)
    pads = [int(p) for p in np.atleast_1d(pads)]
    axes = list(range(x.ndim)) if axes is None else [int(a) % x.ndim for a in axes]
    width = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        width[a] = (pads[i], pads[i + len(axes)])
    if any(b < 0 or e < 0 for b, e in width):
        raise ctx.error("negative pads (cropping) are not supported on the CPU")
    if mode not in ("constant", "edge", "reflect"):
        raise ctx.error(f"pad mode {mode!r} is not supported on the CPU (constant, edge, reflect)")
    cv = 0.0 if value is None or np.size(value) == 0 else float(np.asarray(value).ravel()[0])
    return ops.pad(x, width, mode, cv)


@cpu_kernel("Resize")
def resize(ctx, x, roi=None, scales=None, sizes=None):
    from compiler.graph.ref.resize import resize_plan

    _float32(ctx, x)
    mode = _s(ctx.attr("mode", "nearest"))
    ctm = _s(ctx.attr("coordinate_transformation_mode", "half_pixel"))
    nearest_mode = _s(ctx.attr("nearest_mode", "round_prefer_floor"))
    if x.ndim != 4 or mode not in ("nearest", "linear") or ctx.attr("antialias", 0):
        raise ctx.error("the CPU resizes 4-d NCHW tensors, mode nearest or linear, no antialias")
    if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
        raise ctx.error(f"coordinate_transformation_mode {ctm!r} is not supported on the CPU")
    scales_f, out_shape, _ = resize_plan(ctx, x.shape, roi, scales, sizes)
    if tuple(out_shape[:2]) != x.shape[:2] or any(
        scales_f[a] != out_shape[a] / x.shape[a] for a in (2, 3)
    ):
        raise ctx.error("the CPU resizes H and W only, with scale = output size / input size")
    method = "nearest" if mode == "nearest" else "bilinear"
    return ops.resize(x, (out_shape[2], out_shape[3]), method, ctm, nearest_mode)


# ----- vtac's int8 ops ----------------------------------------------------------------------
@cpu_kernel("vtac.quantize")
def vtac_quantize(ctx, x):
    _float32(ctx, x)
    return ops.quantize(x, 2.0 ** float(ctx.attr("exp")), 0, "int8")  # float: a free scale


@cpu_kernel("vtac.dequantize")
def vtac_dequantize(ctx, q):
    return ops.dequantize(q, 2.0 ** float(ctx.attr("exp")), 0)  # float: a free scale


@cpu_kernel("vtac.requantize")
def vtac_requantize(ctx, acc, shifts=None):
    if shifts is not None:
        raise ctx.error("per-channel shifts have no CPU kernel yet (the NumPy reference runs it)")
    shift = int(ctx.attr("shift"))
    return ops.requantize(acc, shift, int(ctx.attr("lo")), int(ctx.attr("hi")), round_half_up=True)


@cpu_kernel("vtac.conv2d")
def vtac_conv2d(ctx, x, w, b=None):
    if ctx.attr("packed", 0):
        raise ctx.error("packed=1 (the accelerator's blocked layout) is not run on the CPU")
    if x.dtype != np.int8 or w.dtype != np.int8:
        raise ctx.error(f"expects int8 operands, got {x.dtype} and {w.dtype}")
    pads = tuple(ctx.attr("pads", (0, 0, 0, 0)))
    return ops.conv2d(x, w, b, tuple(ctx.attr("strides", (1, 1))), pads,
                      tuple(ctx.attr("dilations", (1, 1))), int(ctx.attr("group", 1)))  # fmt: skip


@cpu_kernel("vtac.dense")
def vtac_dense(ctx, x, w, b=None):
    if ctx.attr("packed", 0):
        raise ctx.error("packed=1 (the accelerator's blocked layout) is not run on the CPU")
    if x.dtype != np.int8 or w.dtype != np.int8:
        raise ctx.error(f"expects int8 operands, got {x.dtype} and {w.dtype}")
    return ops.dense(x, np.ascontiguousarray(w.T), b)


@cpu_kernel("vtac.pack")
def vtac_pack(ctx, x):
    bn, bc = int(ctx.attr("bn")), int(ctx.attr("bc"))
    if bn != 1:
        raise ctx.error(f"the CPU kernel packs with batch block 1, not {bn}")
    if x.ndim == 2:  # dense input: [N, K] -> [N, K/bc, 1, bc] is a reshape after padding
        pk = -(-x.shape[1] // bc) * bc
        x = np.pad(x, ((0, 0), (0, pk - x.shape[1]))) if pk != x.shape[1] else x
        return np.ascontiguousarray(x).reshape(x.shape[0], pk // bc, 1, bc)
    if x.ndim != 4:
        raise ctx.error(f"packs 2-d or 4-d tensors, got {x.ndim}-d")
    return ops.pack_blocked(x, bc)


@cpu_kernel("vtac.im2col")
def vtac_im2col(ctx, x):
    # One NumPy strided copy per kernel tap: on ResNet's stem (3x224x224 -> 147x112x112 int8)
    # 0.6 ms against 1.0 ms for a generated per-row gather (2026-12-07, AMD EPYC), so the
    # reference kernel is the CPU kernel.
    from compiler.graph.ref.vtac_im2col import im2col

    return im2col(ctx, x)


@cpu_kernel("vtac.unpack")
def vtac_unpack(ctx, x):
    n, c = int(ctx.attr("n")), int(ctx.attr("c"))
    if x.ndim == 4 and x.shape[2] == 1:  # dense: [N, K/bc, 1, bc] -> [N, K]
        return np.ascontiguousarray(x.reshape(x.shape[0], -1)[:n, :c])
    if x.ndim != 6 or x.shape[4] != 1 or x.shape[0] != n:
        raise ctx.error(f"the CPU kernel unpacks batch block 1, got {x.shape}")
    return ops.unpack_blocked(x, c)


# ----- fused element-wise chains (accelerator boundaries) -----------------------------------
@cpu_kernel("vtac.fused_elementwise")
def vtac_fused_elementwise(ctx, *xs):
    from compiler.cpu.fused_elementwise import FuseError, fused_elementwise, step_types

    steps = ctx.attr("steps")
    consts = {int(k): float(v) for k, v in dict(ctx.attr("consts", {})).items()}
    arrays = [np.ascontiguousarray(x).reshape(x.shape or (1,))
              for k, x in enumerate(xs) if k not in consts]  # fmt: skip
    in_types = [(tuple(x.shape), x.dtype.name) for x in xs]
    try:
        out_shape, out_dtype = step_types(steps, in_types)[-1]
        key = ("fused_ew", repr(steps), repr(sorted(consts.items())), tuple(in_types))
        k = ops.kernel(key, lambda: fused_elementwise(steps, in_types, consts))
    except FuseError as e:
        raise ctx.error(str(e)) from None
    out = np.empty(out_shape, out_dtype)
    k(*arrays, out)
    return out
