"""Data-movement operators: reshape (copy), transpose, pad, slice as tensor expressions with the
default data-parallel CPU schedule (`te_map`); concat as a loop-IR generator with one
data-parallel stage per input (a select over inputs would read out of bounds). An access that
is not contiguous along the vectorized output axis becomes a gather.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from compiler.cpu.nest import MapKnobs, data_parallel
from compiler.cpu.te_map import te_map
from compiler.tir.nodes import BinOp, Buffer, Const, PrimFunc, Select, Store, seq


def reshape(
    in_shape: Sequence[int],
    out_shape: Sequence[int],
    dtype: str = "float32",
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """A copy into a new shape with the same number of elements (row-major order kept)."""
    size = math.prod(in_shape)
    if size != math.prod(out_shape):
        raise ValueError(f"reshape: {tuple(in_shape)} and {tuple(out_shape)} differ in size")
    return te_map("reshape", (size,), [("x", (size,), dtype)], lambda t, i: t[0][i[0]], knobs=knobs)


def transpose(
    shape: Sequence[int], perm: Sequence[int], dtype: str = "float32", knobs: MapKnobs | None = None
) -> PrimFunc:
    """`out = x.transpose(perm)`."""
    if sorted(perm) != list(range(len(shape))):
        raise ValueError(f"transpose: {tuple(perm)} is not a permutation of {len(shape)} axes")
    out_shape = [shape[p] for p in perm]

    def body(t, idx):
        src = [None] * len(shape)
        for k, p in enumerate(perm):
            src[p] = idx[k]
        return t[0][tuple(src)]

    return te_map("transpose", out_shape, [("x", shape, dtype)], body, knobs=knobs)


def concat(shapes: Sequence[Sequence[int]], axis: int, dtype: str = "float32") -> PrimFunc:
    """`out = concatenate(inputs, axis)`; one stage per input. Params x0, x1, ..., out."""
    rank = len(shapes[0])
    axis = axis % rank
    for k, s in enumerate(shapes):
        if len(s) != rank or any(s[a] != shapes[0][a] for a in range(rank) if a != axis):
            raise ValueError(
                f"concat: input {k} of shape {tuple(s)} does not match {tuple(shapes[0])}"
            )
    out_shape = list(shapes[0])
    out_shape[axis] = sum(s[axis] for s in shapes)
    ins = [Buffer(f"x{k}", tuple(s), dtype) for k, s in enumerate(shapes)]
    out = Buffer("out", tuple(out_shape), dtype)
    stages, offset = [], 0
    for buf, s in zip(ins, shapes, strict=True):

        def body(idx, buf=buf, offset=offset):
            dst = list(idx)
            dst[axis] = idx[axis] + Const(offset)
            return Store(out, tuple(dst), buf[tuple(idx)])

        stages.append(data_parallel(s, body, name=buf.name))
        offset += s[axis]
    return PrimFunc("concat", tuple(ins) + (out,), seq(*stages))


def pad(
    shape: Sequence[int],
    pads: Sequence[tuple[int, int]],
    mode: str = "constant",
    value: float = 0.0,
    dtype: str = "float32",
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """ONNX Pad with non-negative (begin, end) per axis; mode constant, edge or reflect."""
    if mode not in ("constant", "edge", "reflect"):
        raise ValueError(f"pad: mode {mode!r} not supported (constant, edge, reflect)")
    if any(b < 0 or e < 0 for b, e in pads):
        raise ValueError(f"pad: negative pads {tuple(pads)} are not supported; use slice")
    out_shape = [d + b + e for d, (b, e) in zip(shape, pads, strict=True)]
    fill = Const(float(value) if dtype.startswith("float") else int(value), dtype)

    def body(t, idx):
        src, conds = [], []
        for axis, (i, d, (b, _)) in enumerate(zip(idx, shape, pads, strict=True)):
            if b == 0 and out_shape[axis] == d:
                src.append(i)
                continue
            j = i - Const(b)
            if mode == "reflect":
                # Reflect about the first/last element: -k -> k, d-1+k -> d-1-k.
                j = BinOp("max", j, Const(0) - j)
                j = Const(d - 1) - BinOp("max", Const(d - 1) - j, j - Const(d - 1))
            # Clamped, so every load stays inside x even where the select discards it.
            src.append(BinOp("min", BinOp("max", j, Const(0)), Const(d - 1)))
            conds.append(BinOp("and", j >= Const(0), j < Const(d)))
        val = t[0][tuple(src)]
        if mode == "constant" and conds:
            ok = conds[0]
            for c in conds[1:]:
                ok = BinOp("and", ok, c)
            val = Select(ok, val, fill)
        return val

    return te_map("pad", out_shape, [("x", shape, dtype)], body, knobs=knobs)


def slice_op(
    shape: Sequence[int],
    starts: Sequence[int],
    steps: Sequence[int],
    out_shape: Sequence[int],
    dtype: str = "float32",
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """`out[i] = x[start + i * step]` per axis (indices already normalized and in range)."""
    for a, (st, sp, n) in enumerate(zip(starts, steps, out_shape, strict=True)):
        last = st + sp * (n - 1)
        if n and not (0 <= st < shape[a] and 0 <= last < shape[a]):
            raise ValueError(f"slice: axis {a} reads [{st}, {last}] outside 0..{shape[a] - 1}")

    def body(t, idx):
        src = tuple(i * Const(sp) + Const(st) for i, st, sp in zip(idx, starts, steps, strict=True))
        return t[0][src]

    return te_map("slice", out_shape, [("x", shape, dtype)], body, knobs=knobs)
