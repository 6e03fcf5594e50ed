"""`vtac.maxpool`: max pooling on int8 values, in the plain or the accelerator's blocked layout.

- `vtac.maxpool(x: i8) {kernel_shape, strides, pads, packed}` -> i8: for every output pixel the
  maximum over its kernel window, positions outside the input ignored (the same as padding
  with -128, the int8 minimum). `pads` = (top, left, bottom, right), explicit; `packed=1`
  pools the H, W axes of a blocked [N/bn, C/bc, H, W, bn, bc] tensor.

Max commutes with any monotone quantization, so `maxpool(quantize(x, e)) == quantize(MaxPool(x),
e)` exactly: the output keeps the input's exponent.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.graph.ref import KernelCtx, kernel

INT8_MIN = -128


def maxpool_out_size(size: int, k: int, stride: int, pad_begin: int, pad_end: int) -> int:
    return (size + pad_begin + pad_end - k) // stride + 1


def maxpool_hw(
    x: np.ndarray, h_axis: int, k: tuple[int, int], s: tuple[int, int], pads: tuple[int, ...]
) -> np.ndarray:
    """Max over k windows of axes (h_axis, h_axis + 1), stride s, pads (t, l, b, r) of -128."""
    t, l, b, r = pads  # noqa: E741
    width = [(0, 0)] * x.ndim
    width[h_axis], width[h_axis + 1] = (t, b), (l, r)
    xp = np.pad(x, width, constant_values=INT8_MIN)
    win = sliding_window_view(xp, k, axis=(h_axis, h_axis + 1))
    oh = maxpool_out_size(x.shape[h_axis], k[0], s[0], t, b)
    ow = maxpool_out_size(x.shape[h_axis + 1], k[1], s[1], l, r)
    sl = [slice(None)] * x.ndim
    sl[h_axis] = slice(0, (oh - 1) * s[0] + 1, s[0])
    sl[h_axis + 1] = slice(0, (ow - 1) * s[1] + 1, s[1])
    return np.ascontiguousarray(win[tuple(sl)].max(axis=(-2, -1)))


def maxpool_attrs(ctx: KernelCtx) -> tuple[tuple[int, int], tuple[int, int], tuple[int, ...]]:
    k = tuple(int(v) for v in ctx.attr("kernel_shape"))
    s = tuple(int(v) for v in ctx.attr("strides", (1, 1)))
    pads = tuple(int(v) for v in ctx.attr("pads", (0, 0, 0, 0)))
    if len(k) != 2 or len(s) != 2 or len(pads) != 4 or min(k + s) < 1 or min(pads) < 0:
        raise ctx.error(f"needs a 2-D kernel, strides and 4 pads >= 0; got {k}, {s}, {pads}")
    if max(pads[0], pads[2]) >= k[0] or max(pads[1], pads[3]) >= k[1]:
        raise ctx.error(f"pads {pads} must be smaller than the kernel {k}")
    return k, s, (pads[0], pads[1], pads[2], pads[3])


@kernel("vtac.maxpool")
def maxpool(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    if x.dtype != np.int8:
        raise ctx.error(f"expects int8, got {x.dtype}")
    k, s, pads = maxpool_attrs(ctx)
    packed = bool(ctx.attr("packed", 0))
    if x.ndim != (6 if packed else 4):
        want = "a blocked 6-D" if packed else "a 4-D NCHW"
        raise ctx.error(f"expects {want} tensor, got {x.shape}")
    return maxpool_hw(x, 2, k, s, pads)


@kernel("vtac.concat")
def concat_blocks(ctx: KernelCtx, *xs: np.ndarray) -> np.ndarray:
    """`vtac.concat {axis 1, packed 1}`: channel concatenation of blocked tensors (whole
    channel blocks; see `compiler/graph/passes/block_views.py`)."""
    return np.concatenate(xs, axis=1)


@kernel("vtac.split")
def split_blocks(ctx: KernelCtx, x: np.ndarray):
    """`vtac.split {axis 1, packed 1, sizes}`: channel parts (multiples of the block) of a
    blocked tensor."""
    bc = x.shape[-1]
    sizes = [int(s) for s in ctx.attr("sizes")]
    if any(s % bc for s in sizes) or sum(sizes) != x.shape[1] * bc:
        raise ctx.error(f"sizes {sizes} are not whole blocks of {bc} adding to {x.shape[1] * bc}")
    bounds = np.cumsum([s // bc for s in sizes])[:-1]
    return tuple(np.ascontiguousarray(p) for p in np.split(x, bounds, axis=1))


@kernel("vtac.upsample")
def upsample(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    """`vtac.upsample {factor, packed}`: nearest-neighbour upsampling of H and W by an integer
    factor, out[.., y, x, ..] = in[.., y // f, x // f, ..] (axes 2, 3 in both layouts)."""
    f = int(ctx.attr("factor", 2))
    if f < 1 or x.ndim not in (4, 6):
        raise ctx.error(f"needs a factor >= 1 and a 4-D or blocked 6-D tensor, got {f}, {x.shape}")
    return np.ascontiguousarray(x.repeat(f, axis=2).repeat(f, axis=3))
