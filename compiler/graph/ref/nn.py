"""Neural-network ops: Conv (im2col + batched matmul), ConvTranspose, Gemm, MatMul,
BatchNormalization, LRN, Softmax, LogSoftmax."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.graph.ref import KernelCtx, kernel


def conv_pads(
    ctx: KernelCtx, in_spatial, kernel_shape, strides, dilations
) -> tuple[list[int], list[int]]:
    """Begin/end pads per spatial axis from `pads` or `auto_pad` (ONNX Conv/Pool rules)."""
    nsp = len(in_spatial)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(nsp):
            out = -(-in_spatial[i] // strides[i])
            eff = (kernel_shape[i] - 1) * dilations[i] + 1
            total = max((out - 1) * strides[i] + eff - in_spatial[i], 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        return begin, end
    if auto_pad == "VALID":
        return [0] * nsp, [0] * nsp
    pads = list(ctx.attr("pads", (0,) * (2 * nsp)))
    return pads[:nsp], pads[nsp:]


def conv_nd(
    x: np.ndarray,
    w: np.ndarray,
    strides,
    pads_begin,
    pads_end,
    dilations,
    group: int,
    acc_dtype=None,
) -> np.ndarray:
    """N-d grouped convolution (cross-correlation) of NC... input with MC/g... weights.

    Uses im2col over a strided window view and one batched matmul per call; `acc_dtype` sets
    the accumulation type (int32 or float64 for vtac's int8 convolutions). By default float32
    inputs accumulate in float64: each output is then its exact sum rounded once, independent of
    how BLAS tiles the product (with float32 accumulation, output channels with identical
    weights can differ by an ulp depending on their column position, which a following Softmax
    of large logits turns into different probabilities). Other dtypes accumulate in their own.
    """
    n, c = x.shape[:2]
    m = w.shape[0]
    nsp = x.ndim - 2
    ksz = w.shape[2:]
    if acc_dtype is None:
        acc_dtype = np.float64 if x.dtype == np.float32 else x.dtype
    pad_width = [(0, 0), (0, 0)] + [(pads_begin[i], pads_end[i]) for i in range(nsp)]
    xp = np.pad(x, pad_width)
    eff = [(ksz[i] - 1) * dilations[i] + 1 for i in range(nsp)]
    win = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nsp)))
    sl = (
        (slice(None), slice(None))
        + tuple(slice(None, None, s) for s in strides)
        + tuple(slice(None, None, d) for d in dilations)
    )
    win = win[sl]  # N, C, O..., K...
    out_sp = win.shape[2 : 2 + nsp]
    cg, mg = c // group, m // group
    ksize = int(np.prod(ksz, dtype=np.int64))
    npos = int(np.prod(out_sp, dtype=np.int64))
    # N, G, Cg, O..., K... -> N, G, O..., Cg, K...
    win = win.reshape((n, group, cg) + tuple(out_sp) + tuple(ksz))
    perm = (0, 1) + tuple(range(3, 3 + nsp)) + (2,) + tuple(range(3 + nsp, 3 + 2 * nsp))
    cols = np.ascontiguousarray(win.transpose(perm), dtype=acc_dtype).reshape(
        n, group, npos, cg * ksize
    )
    wg = w.reshape(group, mg, cg * ksize).astype(acc_dtype, copy=False).transpose(0, 2, 1)
    out = np.matmul(cols, wg)  # N, G, P, Mg
    out = out.transpose(0, 1, 3, 2).reshape((n, m) + tuple(out_sp))
    return out


@kernel("Conv")
def conv(ctx: KernelCtx, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    nsp = x.ndim - 2
    ksz = list(ctx.attr("kernel_shape", w.shape[2:]))
    strides = list(ctx.attr("strides", (1,) * nsp))
    dilations = list(ctx.attr("dilations", (1,) * nsp))
    group = int(ctx.attr("group", 1))
    if x.shape[1] != w.shape[1] * group:
        raise ctx.error(
            f"input has {x.shape[1]} channels but weight expects {w.shape[1]} x group {group}"
        )
    pb, pe = conv_pads(ctx, x.shape[2:], ksz, strides, dilations)
    out = conv_nd(x, w, strides, pb, pe, dilations, group)
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * nsp)
    return out.astype(x.dtype, copy=False)


@kernel("ConvTranspose")
def conv_transpose(
    ctx: KernelCtx, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None
) -> np.ndarray:
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    group = int(ctx.attr("group", 1))
    mg = w.shape[1]
    m = mg * group
    ksz = list(ctx.attr("kernel_shape", w.shape[2:]))
    strides = list(ctx.attr("strides", (1,) * nsp))
    dilations = list(ctx.attr("dilations", (1,) * nsp))
    out_pad = list(ctx.attr("output_padding", (0,) * nsp))
    in_sp = x.shape[2:]
    full = [
        (in_sp[i] - 1) * strides[i] + (ksz[i] - 1) * dilations[i] + 1 + out_pad[i]
        for i in range(nsp)
    ]
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    output_shape = ctx.attr("output_shape", None)
    if output_shape is not None:
        output_shape = list(output_shape)[-nsp:]
        total = [full[i] - output_shape[i] for i in range(nsp)]
        if auto_pad == "SAME_UPPER":
            pb = [t // 2 for t in total]
        else:
            pb = [t - t // 2 for t in total]
        pe = [total[i] - pb[i] for i in range(nsp)]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = [in_sp[i] * strides[i] for i in range(nsp)]
        total = [full[i] - target[i] for i in range(nsp)]
        if auto_pad == "SAME_UPPER":
            pb = [t // 2 for t in total]
        else:
            pb = [t - t // 2 for t in total]
        pe = [total[i] - pb[i] for i in range(nsp)]
    else:
        pads = list(ctx.attr("pads", (0,) * (2 * nsp)))
        pb, pe = pads[:nsp], pads[nsp:]
    buf = np.zeros((n, m) + tuple(full), dtype=x.dtype)
    cg = c // group
    for g in range(group):
        xg = x[:, g * cg : (g + 1) * cg]
        wg = w[g * cg : (g + 1) * cg]  # Cg, Mg, K...
        for k in itertools.product(*(range(s) for s in ksz)):
            contrib = np.tensordot(xg, wg[(slice(None), slice(None)) + k], axes=([1], [0]))
            contrib = np.moveaxis(contrib, -1, 1)  # N, Mg, I...
            sl = (slice(None), slice(g * mg, (g + 1) * mg)) + tuple(
                slice(
                    k[i] * dilations[i],
                    k[i] * dilations[i] + (in_sp[i] - 1) * strides[i] + 1,
                    strides[i],
                )
                for i in range(nsp)
            )
            buf[sl] += contrib
    # Output index j reads buffer index j + pads_begin; negative pads extend with zeros.
    out_sp = [full[i] - pb[i] - pe[i] for i in range(nsp)]
    out = np.zeros((n, m) + tuple(out_sp), dtype=x.dtype)
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for i in range(nsp):
        lo, hi = max(0, -pb[i]), min(out_sp[i], full[i] - pb[i])
        dst.append(slice(lo, hi))
        src.append(slice(lo + pb[i], hi + pb[i]))
    out[tuple(dst)] = buf[tuple(src)]
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * nsp)
    return out.astype(x.dtype, copy=False)


@kernel("Gemm")
def gemm(ctx: KernelCtx, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
    if ctx.attr("transA", 0):
        a = a.T
    if ctx.attr("transB", 0):
        b = b.T
    alpha = ctx.attr("alpha", 1.0)
    beta = ctx.attr("beta", 1.0)
    out = a @ b
    if alpha != 1.0:
        out = out * a.dtype.type(alpha)
    if c is not None:
        out = out + (c * c.dtype.type(beta) if beta != 1.0 else c)
    return out.astype(a.dtype, copy=False)


@kernel("MatMul")
def matmul(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a, b)


@kernel("BatchNormalization")
def batch_norm(ctx: KernelCtx, x, scale, bias, mean, var) -> np.ndarray:
    if ctx.attr("training_mode", 0):
        raise ctx.error("training_mode=1 is not supported (inference only)")
    eps = ctx.attr("epsilon", 1e-5)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / np.sqrt(var + x.dtype.type(eps))
    out = (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)
    return out.astype(x.dtype, copy=False)


@kernel("LRN")
def lrn(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    size = int(ctx.attr("size"))
    alpha = ctx.attr("alpha", 1e-4)
    beta = ctx.attr("beta", 0.75)
    bias = ctx.attr("bias", 1.0)
    sq = np.square(x.astype(np.float64))
    c = x.shape[1]
    lo = (size - 1) // 2
    hi = -(-(size - 1) // 2)
    padded = np.pad(sq, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    csum = np.cumsum(padded, axis=1)
    csum = np.concatenate([np.zeros_like(csum[:, :1]), csum], axis=1)
    window = csum[:, size : size + c] - csum[:, :c]
    return (x / (bias + alpha / size * window) ** beta).astype(x.dtype)


def _softmax_axis(ctx: KernelCtx, x: np.ndarray):
    """Softmax before opset 13 coerces to 2-D at `axis` (default 1); from 13 it is per-axis."""
    if ctx.opset < 13:
        axis = ctx.attr("axis", 1) % max(x.ndim, 1)
        rows = int(np.prod(x.shape[:axis], dtype=np.int64))
        return x.reshape(rows, -1), 1
    return x, ctx.attr("axis", -1)


@kernel("Softmax")
def softmax(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    y, axis = _softmax_axis(ctx, x)
    e = np.exp(y - np.max(y, axis=axis, keepdims=True))
    return (e / np.sum(e, axis=axis, keepdims=True)).reshape(x.shape).astype(x.dtype)


@kernel("LogSoftmax")
def log_softmax(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    y, axis = _softmax_axis(ctx, x)
    s = y - np.max(y, axis=axis, keepdims=True)
    return (
        (s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))).reshape(x.shape).astype(x.dtype)
    )
