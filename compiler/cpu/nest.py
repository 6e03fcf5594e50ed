"""Loop-nest builders shared by the CPU operator generators.

`data_parallel(shape, body_fn, ...)` is the default schedule of every operator whose output
elements are independent: the output axes except the last are fused into one parallel loop
(when that loop has enough iterations to be worth a thread pool), and the last axis is a
vectorized loop (chunked by the backend into vector registers). A 1-D output is first cut
into rows so it can still run in parallel. The choices are `MapKnobs`
(`default_map_knobs(shape)`; `map_knob_space(shape)` for a tuner), shared with `te_map`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from compiler.tir.nodes import Const, Expr, For, ForKind, Stmt, Var

# Below this many elements a parallel loop costs more in thread hand-off than it saves.
MIN_PARALLEL_ELEMENTS = 1 << 14
# Row lengths a 1-D output may be cut into, preferred first.
ROW_CHOICES = (4096, 2048, 1024, 512, 256)


@dataclass(frozen=True)
class MapKnobs:
    """The data-parallel schedule's choices.

    parallel:  the outer loop (the fused leading axes; the rows of a cut 1-D output) runs on
               the thread pool.
    row:       a 1-D output is cut into rows of `row` elements (0: one loop). Must divide the
               length and be shorter than it; only for 1-D outputs.
    vectorize: the innermost loop is vectorized (else serial).
    """

    parallel: bool
    row: int = 0
    vectorize: bool = True


@dataclass(frozen=True)
class RowKnobs:
    """The row-wise schedules' choices (NCHW pooling, softmax, direct conv2d).

    parallel:    the loop over rows (outer slices for softmax) runs on the thread pool.
    vectorize:   the loop along a row is vectorized (else serial).
    unroll_taps: the loop over a window's columns (kx) is unrolled (pooling, conv2d only).
    """

    parallel: bool = True
    vectorize: bool = True
    unroll_taps: bool = False

    def row_kind(self) -> ForKind:
        return ForKind.VECTORIZED if self.vectorize else ForKind.SERIAL

    def outer_kind(self) -> ForKind:
        return ForKind.PARALLEL if self.parallel else ForKind.SERIAL

    def tap_kind(self) -> ForKind:
        return ForKind.UNROLLED if self.unroll_taps else ForKind.SERIAL


def row_knob_space(taps: bool = True) -> list[RowKnobs]:
    """Every RowKnobs (without `unroll_taps` when the operator has no window: `taps=False`)."""
    unroll = (False, True) if taps else (False,)
    return [RowKnobs(p, v, u) for p in (True, False) for v in (True, False) for u in unroll]


def _shape(shape: Sequence[int]) -> list[int]:
    return [int(d) for d in shape] or [1]


def _row_choices(n: int) -> list[int]:
    return [r for r in ROW_CHOICES if n % r == 0 and n > r]


def default_map_knobs(shape: Sequence[int]) -> MapKnobs:
    """Parallel when the output has at least MIN_PARALLEL_ELEMENTS elements (and an outer loop
    of more than one iteration); a 1-D output is cut into the longest row in ROW_CHOICES."""
    shape = _shape(shape)
    big = math.prod(shape) >= MIN_PARALLEL_ELEMENTS
    if len(shape) == 1:
        rows = _row_choices(shape[0])
        row = rows[0] if big and rows else 0
        return MapKnobs(parallel=row > 0, row=row)
    return MapKnobs(parallel=big and math.prod(shape[:-1]) > 1)


def map_knob_space(shape: Sequence[int]) -> list[MapKnobs]:
    """Every valid MapKnobs for an output of `shape` (vectorized inner loop)."""
    shape = _shape(shape)
    if len(shape) == 1:
        cut = [MapKnobs(p, r) for r in _row_choices(shape[0]) for p in (False, True)]
        return [MapKnobs(False)] + cut
    return [MapKnobs(False)] + ([MapKnobs(True)] if math.prod(shape[:-1]) > 1 else [])


def check_map_knobs(name: str, shape: Sequence[int], knobs: MapKnobs) -> None:
    """Raise ValueError naming the operator and the knob if `knobs` does not fit `shape`."""
    shape = _shape(shape)
    if knobs.row and (len(shape) != 1 or knobs.row not in _row_choices(shape[0])):
        raise ValueError(
            f"{name}: knob row={knobs.row} needs a 1-D output whose length it divides "
            f"(and is shorter than), output shape {tuple(shape)}"
        )
    if knobs.parallel and len(shape) == 1 and not knobs.row:
        raise ValueError(f"{name}: knob parallel=True on a 1-D output needs row > 0")


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
    name: str = "i",
    knobs: MapKnobs | None = None,
) -> Stmt:
    """A loop nest over `shape` whose body is `body_fn(indices)` (see module docstring);
    `knobs` default to `default_map_knobs(shape)`."""
    shape = _shape(shape)
    knobs = knobs or default_map_knobs(shape)
    check_map_knobs(name, shape, knobs)
    last = ForKind.VECTORIZED if knobs.vectorize else ForKind.SERIAL
    outer_kind = ForKind.PARALLEL if knobs.parallel else ForKind.SERIAL
    p, j = Var(f"{name}_o"), Var(f"{name}_v")
    if len(shape) == 1:
        if not knobs.row:
            return nest([(j, shape[0], last)], body_fn([j]))
        row = knobs.row
        return nest([(p, shape[0] // row, outer_kind), (j, row, last)], body_fn([p * row + j]))
    idx = unflatten(p, shape[:-1]) + [j]
    return nest([(p, math.prod(shape[:-1]), outer_kind), (j, shape[-1], last)], body_fn(idx))


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
