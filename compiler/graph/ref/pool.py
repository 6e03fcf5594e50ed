"""Pooling: MaxPool, AveragePool (pads, auto_pad, ceil_mode, dilations, count_include_pad),
GlobalAveragePool, GlobalMaxPool."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.graph.ref import KernelCtx, kernel
from compiler.graph.ref.nn import conv_pads


def pool_geometry(ctx: KernelCtx, in_sp):
    """(kernel, strides, dilations, pads_begin, pads_end, out_spatial) of a pooling node."""
    nsp = len(in_sp)
    ksz = list(ctx.attr("kernel_shape"))
    strides = list(ctx.attr("strides", (1,) * nsp))
    dil = list(ctx.attr("dilations", (1,) * nsp))
    pb, pe = conv_pads(ctx, in_sp, ksz, strides, dil)
    ceil_mode = int(ctx.attr("ceil_mode", 0))
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    out = []
    for i in range(nsp):
        eff = (ksz[i] - 1) * dil[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-in_sp[i] // strides[i])
        elif auto_pad == "VALID":
            o = (in_sp[i] - eff) // strides[i] + 1
        else:
            span = in_sp[i] + pb[i] + pe[i] - eff
            o = (-(-span // strides[i]) if ceil_mode else span // strides[i]) + 1
            # A window must start inside the input or the begin padding.
            if ceil_mode and (o - 1) * strides[i] >= in_sp[i] + pb[i]:
                o -= 1
        out.append(o)
    return ksz, strides, dil, pb, pe, out


def _windows(x, fill, ksz, strides, dil, pb, pe, out):
    nsp = len(ksz)
    extra = []
    for i in range(nsp):
        need = (out[i] - 1) * strides[i] + (ksz[i] - 1) * dil[i] + 1
        have = x.shape[2 + i] + pb[i] + pe[i]
        extra.append(max(need - have, 0))
    pad_width = [(0, 0), (0, 0)] + [(pb[i], pe[i] + extra[i]) for i in range(nsp)]
    xp = np.pad(x, pad_width, constant_values=fill)
    eff = [(ksz[i] - 1) * dil[i] + 1 for i in range(nsp)]
    win = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nsp)))
    sl = (
        (slice(None), slice(None))
        + tuple(slice(0, (out[i] - 1) * strides[i] + 1, strides[i]) for i in range(nsp))
        + tuple(slice(None, None, d) for d in dil)
    )
    return win[sl], extra


@kernel("MaxPool")
def max_pool(ctx: KernelCtx, x: np.ndarray):
    nsp = x.ndim - 2
    ksz, strides, dil, pb, pe, out = pool_geometry(ctx, x.shape[2:])
    fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    win, _ = _windows(x, fill, ksz, strides, dil, pb, pe, out)
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    y = win.max(axis=axes).astype(x.dtype)
    if ctx.num_outputs < 2:
        return y
    # Indices: flat positions in the unpadded input (row-major, or column-major spatially
    # when storage_order=1), as ONNX defines them.
    idx = np.arange(int(np.prod(x.shape[2:]))).reshape(x.shape[2:])
    if ctx.attr("storage_order", 0):
        idx = np.arange(int(np.prod(x.shape[2:]))).reshape(x.shape[2:][::-1]).T
    idx_full = np.broadcast_to(idx, x.shape)
    iwin, _ = _windows(idx_full.astype(np.int64), -1, ksz, strides, dil, pb, pe, out)
    flat_w = win.reshape(win.shape[: 2 + nsp] + (-1,))
    flat_i = iwin.reshape(iwin.shape[: 2 + nsp] + (-1,))
    arg = np.argmax(flat_w, axis=-1)
    local = np.take_along_axis(flat_i, arg[..., None], axis=-1)[..., 0]
    chw = int(np.prod(x.shape[1:]))
    plane = int(np.prod(x.shape[2:]))
    base = np.arange(x.shape[0])[:, None] * chw + np.arange(x.shape[1])[None, :] * plane
    base = base.reshape(base.shape + (1,) * nsp)
    return y, (local + base).astype(np.int64)


@kernel("AveragePool")
def average_pool(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    nsp = x.ndim - 2
    ksz, strides, dil, pb, pe, out = pool_geometry(ctx, x.shape[2:])
    win, extra = _windows(x, 0, ksz, strides, dil, pb, pe, out)
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    total = win.sum(axis=axes, dtype=np.float64)
    # Count of the elements each window averages: the real input, plus the explicit pads
    # when count_include_pad=1 (never the ceil-mode overhang).
    ones = np.ones((1, 1) + x.shape[2:], dtype=np.float64)
    if ctx.attr("count_include_pad", 0):
        ones = np.pad(
            ones, [(0, 0), (0, 0)] + [(pb[i], pe[i]) for i in range(nsp)], constant_values=1
        )
        cwin, _ = _windows(ones, 0, ksz, strides, dil, [0] * nsp, [0] * nsp, out)
    else:
        cwin, _ = _windows(ones, 0, ksz, strides, dil, pb, pe, out)
    count = cwin.sum(axis=axes)
    return (total / count).astype(x.dtype)


@kernel("GlobalAveragePool")
def global_average_pool(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)


@kernel("GlobalMaxPool")
def global_max_pool(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
