"""Data-movement and shape ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
Slice, Pad, Gather, Split, Shape, Size, Expand, Tile, Constant, ConstantOfShape, Range."""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KernelCtx, kernel


def reshape_target(ctx: KernelCtx, in_shape, shape) -> tuple[int, ...]:
    """The output shape of Reshape (0 copies the input dim unless allowzero; -1 is inferred)."""
    shape = [int(s) for s in shape]
    if not ctx.attr("allowzero", 0):
        shape = [in_shape[i] if s == 0 else s for i, s in enumerate(shape)]
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        total = int(np.prod(in_shape, dtype=np.int64))
        shape[shape.index(-1)] = total // known if known else 0
    if int(np.prod(shape, dtype=np.int64)) != int(np.prod(in_shape, dtype=np.int64)):
        raise ctx.error(f"cannot reshape {tuple(in_shape)} to {tuple(shape)}")
    return tuple(shape)


@kernel("Reshape")
def reshape(ctx: KernelCtx, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return x.reshape(reshape_target(ctx, x.shape, shape))


@kernel("Flatten")
def flatten(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    axis = int(ctx.attr("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    return x.reshape(rows, -1) if x.size else x.reshape(rows, int(np.prod(x.shape[axis:])))


def _axes(ctx: KernelCtx, given, since: int):
    if ctx.opset < since:
        return ctx.attr("axes", None)
    return None if given is None else [int(a) for a in np.atleast_1d(given)]


@kernel("Squeeze")
def squeeze(ctx: KernelCtx, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    axes = _axes(ctx, axes, 13)
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a % x.ndim for a in axes))


@kernel("Unsqueeze")
def unsqueeze(ctx: KernelCtx, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    axes = _axes(ctx, axes, 13)
    rank = x.ndim + len(axes)
    out = x
    for a in sorted(a % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


@kernel("Transpose")
def transpose(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    perm = ctx.attr("perm", None)
    return np.transpose(x, perm)


@kernel("Concat")
def concat(ctx: KernelCtx, *xs: np.ndarray) -> np.ndarray:
    return np.concatenate([x for x in xs if x is not None], axis=int(ctx.attr("axis")))


@kernel("Slice")
def slice_(ctx: KernelCtx, x, starts, ends, axes=None, steps=None) -> np.ndarray:
    starts = [int(s) for s in np.atleast_1d(starts)]
    ends = [int(e) for e in np.atleast_1d(ends)]
    axes = list(range(len(starts))) if axes is None else [int(a) % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    sl = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        dim = x.shape[a]
        # Clamp like ONNX: huge ends mean "to the end" in either direction.
        if st > 0:
            s = min(max(s + dim if s < 0 else s, 0), dim)
            e = min(max(e + dim if e < 0 else e, 0), dim)
        else:
            s = min(max(s + dim if s < 0 else s, -1), dim - 1)
            e = min(max(e + dim if e < 0 else e, -1), dim - 1)
            if e == -1:
                e = None
        sl[a] = slice(s, e, st)
    return x[tuple(sl)]


@kernel("Pad")
def pad(ctx: KernelCtx, x, pads=None, value=None, axes=None) -> np.ndarray:
    mode = ctx.attr("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if ctx.opset < 11:
        pads = ctx.attr("pads")
        value = ctx.attr("value", 0.0)
    pads = [int(p) for p in np.atleast_1d(pads)]
    axes = list(range(x.ndim)) if axes is None else [int(a) % x.ndim for a in axes]
    width = [(0, 0)] * x.ndim
    k = len(axes)
    for i, a in enumerate(axes):
        width[a] = (pads[i], pads[i + k])
    # Negative pads crop.
    crop = tuple(
        slice(-b if b < 0 else 0, x.shape[i] + e if e < 0 else None)
        for i, (b, e) in enumerate(width)
    )
    x = x[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in width]
    if mode == "constant":
        cv = 0 if value is None or np.size(value) == 0 else np.asarray(value).ravel()[0]
        return np.pad(x, width, mode="constant", constant_values=cv)
    if mode in ("reflect", "edge", "wrap"):
        return np.pad(x, width, mode=mode)
    raise ctx.error(f"pad mode {mode!r} is not supported (constant, reflect, edge, wrap are)")


@kernel("Gather")
def gather(ctx: KernelCtx, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    axis = int(ctx.attr("axis", 0)) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return np.take(x, idx, axis=axis)


@kernel("GatherElements")
def gather_elements(ctx: KernelCtx, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    axis = int(ctx.attr("axis", 0)) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return np.take_along_axis(x, idx, axis=axis)


@kernel("Split")
def split(ctx: KernelCtx, x: np.ndarray, split_sizes: np.ndarray | None = None):
    axis = int(ctx.attr("axis", 0)) % x.ndim
    if ctx.opset < 13:
        split_sizes = ctx.attr("split", None)
    n = ctx.num_outputs
    if split_sizes is None or len(np.atleast_1d(split_sizes)) == 0:
        dim = x.shape[axis]
        chunk = -(-dim // n)
        sizes = [min(chunk, dim - i * chunk) for i in range(n)]
    else:
        sizes = [int(s) for s in np.atleast_1d(split_sizes)]
    bounds = np.cumsum(sizes)[:-1]
    return tuple(np.split(x, bounds, axis=axis))


@kernel("Shape")
def shape(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    dims = np.array(x.shape, dtype=np.int64)
    start = ctx.attr("start", 0)
    end = ctx.attr("end", None)
    return dims[start:end]


@kernel("Size")
def size(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.array(x.size, dtype=np.int64)


@kernel("Expand")
def expand(ctx: KernelCtx, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    target = np.broadcast_shapes(x.shape, tuple(int(s) for s in shape))
    return np.broadcast_to(x, target).copy()


@kernel("Tile")
def tile(ctx: KernelCtx, x: np.ndarray, repeats: np.ndarray) -> np.ndarray:
    return np.tile(x, [int(r) for r in repeats])


@kernel("Constant")
def constant(ctx: KernelCtx) -> np.ndarray:
    for key, dtype in (
        ("value", None),
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in ctx.attrs:
            return np.asarray(ctx.attrs[key], dtype=dtype)
    raise ctx.error("Constant needs one of value, value_float(s), value_int(s)")


@kernel("ConstantOfShape")
def constant_of_shape(ctx: KernelCtx, shape: np.ndarray) -> np.ndarray:
    value = ctx.attr("value", None)
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).ravel()
    return np.full(tuple(int(s) for s in shape), fill[0], dtype=fill.dtype)


@kernel("Range")
def range_(ctx: KernelCtx, start, limit, delta) -> np.ndarray:
    start, limit, delta = (np.asarray(v).ravel()[0] for v in (start, limit, delta))
    n = max(int(np.ceil((limit - start) / delta)), 0)
    return (start + np.arange(n) * delta).astype(np.asarray(start).dtype)


@kernel("DepthToSpace")
def depth_to_space(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    b = int(ctx.attr("blocksize"))
    n, c, h, w = x.shape
    mode = ctx.attr("mode", "DCR")
    if mode == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (b * b), h * b, w * b)


@kernel("SpaceToDepth")
def space_to_depth(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    b = int(ctx.attr("blocksize"))
    n, c, h, w = x.shape
    t = x.reshape(n, c, h // b, b, w // b, b)
    perm = (0, 1, 3, 5, 2, 4) if ctx.attr("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
    t = t.transpose(perm)
    return t.reshape(n, c * b * b, h // b, w // b)
