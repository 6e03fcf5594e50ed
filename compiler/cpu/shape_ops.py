"""Data-movement operators: reshape (copy), transpose, concat, pad, slice, as loop-IR generators.

All use the default data-parallel schedule over the output (`nest.data_parallel`); an access
that is not contiguous along the vectorized output axis becomes a gather.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from compiler.cpu.nest import data_parallel
from compiler.tir.nodes import BinOp, Buffer, Const, PrimFunc, Select, Store, seq


def reshape(in_shape: Sequence[int], out_shape: Sequence[int], dtype: str = "float32") -> PrimFunc:
    """A copy into a new shape with the same number of elements (row-major order kept)."""
    size = math.prod(in_shape)
    if size != math.prod(out_shape):
        raise ValueError(f"reshape: {tuple(in_shape)} and {tuple(out_shape)} differ in size")
    x, out = Buffer("x", (size,), dtype), Buffer("out", (size,), dtype)
    return PrimFunc(
        "reshape", (x, out), data_parallel([size], lambda i: Store(out, (i[0],), x[i[0]]))
    )


def transpose(shape: Sequence[int], perm: Sequence[int], dtype: str = "float32") -> PrimFunc:
    """`out = x.transpose(perm)`."""
    if sorted(perm) != list(range(len(shape))):
        raise ValueError(f"transpose: {tuple(perm)} is not a permutation of {len(shape)} axes")
    out_shape = [shape[p] for p in perm]
    x, out = Buffer("x", tuple(shape), dtype), Buffer("out", tuple(out_shape), dtype)

    def body(idx):
        src = [None] * len(shape)
        for k, p in enumerate(perm):
            src[p] = idx[k]
        return Store(out, tuple(idx), x[tuple(src)])

    return PrimFunc("transpose", (x, out), data_parallel(out_shape, body))


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
) -> PrimFunc:
    """ONNX Pad with non-negative (begin, end) per axis; mode constant, edge or reflect."""
    if mode not in ("constant", "edge", "reflect"):
        raise ValueError(f"pad: mode {mode!r} not supported (constant, edge, reflect)")
    if any(b < 0 or e < 0 for b, e in pads):
        raise ValueError(f"pad: negative pads {tuple(pads)} are not supported; use slice")
    out_shape = [d + b + e for d, (b, e) in zip(shape, pads, strict=True)]
    x, out = Buffer("x", tuple(shape), dtype), Buffer("out", tuple(out_shape), dtype)

    def body(idx):
        src, conds = [], []
        for i, d, (b, _) in zip(idx, shape, pads, strict=True):
            if b == 0 and out_shape[len(src)] == d:
                src.append(i)
                continue
            j = i - Const(b)
            if mode == "reflect":
                # Reflect about the first/last element: -k -> k, d-1+k -> d-1-k.
                j = BinOp("max", j, Const(0) - j)
                j = Const(d - 1) - BinOp("max", Const(d - 1) - j, j - Const(d - 1))
            clamped = BinOp("min", BinOp("max", j, Const(0)), Const(d - 1))
            conds.append(BinOp("and", j >= Const(0), j < Const(d)))
            src.append(clamped)
        val = x[tuple(src)]
        if mode == "constant" and conds:
            ok = conds[0]
            for c in conds[1:]:
                ok = BinOp("and", ok, c)
            val = Select(
                ok, val, Const(float(value) if dtype.startswith("float") else int(value), dtype)
            )
        return Store(out, tuple(idx), val)

    return PrimFunc("pad", (x, out), data_parallel(out_shape, body))


def slice_op(
    shape: Sequence[int],
    starts: Sequence[int],
    steps: Sequence[int],
    out_shape: Sequence[int],
    dtype: str = "float32",
) -> PrimFunc:
    """`out[i] = x[start + i * step]` per axis (indices already normalized and in range)."""
    for a, (st, sp, n) in enumerate(zip(starts, steps, out_shape, strict=True)):
        last = st + sp * (n - 1)
        if n and not (0 <= st < shape[a] and 0 <= last < shape[a]):
            raise ValueError(f"slice: axis {a} reads [{st}, {last}] outside 0..{shape[a] - 1}")
    x, out = Buffer("x", tuple(shape), dtype), Buffer("out", tuple(out_shape), dtype)

    def body(idx):
        src = tuple(i * Const(sp) + Const(st) for i, st, sp in zip(idx, starts, steps, strict=True))
        return Store(out, tuple(idx), x[src])

    return PrimFunc("slice", (x, out), data_parallel(out_shape, body))
