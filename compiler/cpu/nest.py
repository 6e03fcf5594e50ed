"""Loop-nest builders shared by the CPU operator generators.

`data_parallel(shape, body_fn, ...)` is the default schedule of every operator whose output
elements are independent: the output axes except the last are fused into one parallel loop
(when that loop has enough iterations to be worth a thread pool), and the last axis is a
vectorized loop (chunked by the backend into vector registers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from compiler.tir.nodes import Const, Expr, For, ForKind, Stmt, Var

# Below this many elements a parallel loop costs more in thread hand-off than it saves.
MIN_PARALLEL_ELEMENTS = 1 << 14


def nest(loops: Sequence[tuple[Var, int, ForKind]], body: Stmt) -> Stmt:
    """`for v0 in range(e0) k0: for v1 ...: body`, outermost first."""
    for var, extent, kind in reversed(loops):
        body = For(var, Const(0), Const(int(extent)), kind, body)
    return body


def unflatten(flat: Expr, shape: Sequence[int]) -> list[Expr]:
    """Indices of a row-major flat index over `shape`."""
    idx: list[Expr] = []
    rest = flat
    for k, dim in enumerate(shape):
        inner = math.prod(shape[k + 1 :])
        i = rest // inner if inner > 1 else rest
        if k > 0:
            i = i % dim
        idx.append(i)
    return idx


def data_parallel(
    shape: Sequence[int],
    body_fn: Callable[[list[Expr]], Stmt],
    vector_last: bool = True,
    name: str = "i",
) -> Stmt:
    """A loop nest over `shape` whose body is `body_fn(indices)` (see module docstring)."""
    shape = [int(d) for d in shape] or [1]
    total = math.prod(shape)
    if len(shape) == 1:
        # Cut one long axis into rows so it can still run in parallel.
        n = shape[0]
        row = next((r for r in (4096, 2048, 1024, 512, 256) if n % r == 0 and n > r), None)
        if row is not None and n >= MIN_PARALLEL_ELEMENTS:
            p, j = Var(f"{name}_o"), Var(f"{name}_v")
            body = body_fn([p * row + j])
            last = ForKind.VECTORIZED if vector_last else ForKind.SERIAL
            return nest([(p, n // row, ForKind.PARALLEL), (j, row, last)], body)
        j = Var(f"{name}_v")
        return nest([(j, n, ForKind.VECTORIZED if vector_last else ForKind.SERIAL)], body_fn([j]))
    outer = math.prod(shape[:-1])
    p, j = Var(f"{name}_o"), Var(f"{name}_v")
    idx = unflatten(p, shape[:-1]) + [j]
    kind = ForKind.PARALLEL if total >= MIN_PARALLEL_ELEMENTS and outer > 1 else ForKind.SERIAL
    last = ForKind.VECTORIZED if vector_last else ForKind.SERIAL
    return nest([(p, outer, kind), (j, shape[-1], last)], body_fn(idx))


def broadcast_index(idx: Sequence[Expr], in_shape: Sequence[int], out_rank: int) -> list[Expr]:
    """NumPy broadcasting: the index into an input of `in_shape` for output index `idx`."""
    pad = out_rank - len(in_shape)
    return [Const(0) if d == 1 else idx[pad + k] for k, d in enumerate(in_shape)]


def collapse_broadcast(out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]]):
    """Merge adjacent output axes on which every input is either full or broadcast alike, so
    the innermost loop is as long as possible. Returns (new out shape, new input shapes)."""
    rank = len(out_shape)
    padded = [[1] * (rank - len(s)) + list(s) for s in in_shapes]
    out_dims: list[int] = []
    in_dims: list[list[int]] = [[] for _ in in_shapes]
    prev_pattern = None
    for axis in range(rank):
        if out_shape[axis] == 1:
            continue  # size-1 axes carry nothing
        pattern = tuple(s[axis] == out_shape[axis] for s in padded)
        if prev_pattern == pattern:
            out_dims[-1] *= out_shape[axis]
            for k, s in enumerate(padded):
                in_dims[k][-1] *= s[axis]
        else:
            out_dims.append(out_shape[axis])
            for k, s in enumerate(padded):
                in_dims[k].append(s[axis])
        prev_pattern = pattern
    if not out_dims:
        return [1], [[1] for _ in in_shapes]
    return out_dims, in_dims
