"""softmax along one axis, as a loop-IR generator.

The input is viewed as [outer, axis, inner]; the loop over `outer` is parallel and `inner` is
the vectorized axis of three passes (max, exp and sum, scale), with the running max and sum in
local buffers of `inner` elements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from compiler.cpu.nest import MIN_PARALLEL_ELEMENTS, RowKnobs, nest
from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Call,
    Const,
    ForKind,
    PrimFunc,
    Store,
    Var,
    seq,
)

F32 = "float32"


def default_softmax_knobs(shape: Sequence[int], axis: int = -1) -> RowKnobs:
    """Parallel over the outer slices when there are several and at least
    MIN_PARALLEL_ELEMENTS elements; the inner axis vectorized."""
    axis = axis % len(shape)
    parallel = math.prod(shape[:axis]) > 1 and math.prod(shape) >= MIN_PARALLEL_ELEMENTS
    return RowKnobs(parallel=parallel)


def softmax(
    shape: Sequence[int], axis: int = -1, log: bool = False, knobs: RowKnobs | None = None
) -> PrimFunc:
    """softmax (or log-softmax) of x over `axis`; params x, out of `shape`. `knobs`:
    `parallel` (outer slices) and `vectorize` (inner axis); default `default_softmax_knobs`."""
    knobs = knobs or default_softmax_knobs(shape, axis)
    axis = axis % len(shape)
    outer = math.prod(shape[:axis])
    alen = shape[axis]
    inner = math.prod(shape[axis + 1 :])
    vec = knobs.row_kind()
    x = Buffer("x", (outer, alen, inner), F32)
    out = Buffer("out", (outer, alen, inner), F32)
    mx = Buffer("mx", (inner,), F32, scope="local")
    sm = Buffer("sm", (inner,), F32, scope="local")
    o = Var("o")
    j0, a1, j1, a2, j3, a3, j4 = (Var(v) for v in "jajajaj")
    e = Call("exp", (x[o, a2, j3] - mx[j3],), F32)
    if log:
        final = x[o, a3, j4] - mx[j4] - Call("log", (sm[j4],), F32)
        exp_pass = Store(sm, (j3,), sm[j3] + e)
    else:
        final = out[o, a3, j4] / sm[j4]
        exp_pass = seq(Store(out, (o, a2, j3), e), Store(sm, (j3,), sm[j3] + e))
    body = Allocate(mx, Allocate(sm, seq(
        nest([(j0, inner, vec)],
             seq(Store(mx, (j0,), Const(float("-inf"), F32)), Store(sm, (j0,), Const(0.0, F32)))),
        nest([(a1, alen, ForKind.SERIAL), (j1, inner, vec)],
             Store(mx, (j1,), BinOp("max", mx[j1], x[o, a1, j1]))),
        nest([(a2, alen, ForKind.SERIAL), (j3, inner, vec)], exp_pass),
        nest([(a3, alen, ForKind.SERIAL), (j4, inner, vec)],
             Store(out, (o, a3, j4), final)),
    )))  # fmt: skip
    kind = knobs.outer_kind()
    return PrimFunc("log_softmax" if log else "softmax", (x, out), nest([(o, outer, kind)], body))
