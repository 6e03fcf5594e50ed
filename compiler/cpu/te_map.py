"""Data-parallel operators as tensor expressions with the default CPU schedule.

`te_map(name, out_shape, inputs, body)` builds `out[idx] = body(tensors, idx)` as a `compute`,
schedules it by `MapKnobs` (`compiler.cpu.nest`: the leading output axes fused into one
parallel loop when the tensor is large enough, the last axis vectorized; a single long axis is
split into rows first so it can still run in parallel) and lowers it with the shared
`compiler.tir.lower`. The PrimFunc's params are the inputs in order, then `out`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from compiler.cpu.nest import MapKnobs, check_map_knobs, default_map_knobs
from compiler.schedule import create_schedule
from compiler.te import compute, placeholder
from compiler.tir.lower import lower
from compiler.tir.nodes import Expr, PrimFunc


def te_map(
    name: str,
    out_shape: Sequence[int],
    inputs: Sequence[tuple[str, Sequence[int], str]],
    body: Callable[[list, tuple], Expr],
    out_dtype: str | None = None,
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """`inputs` are (name, shape, dtype); `body(tensors, idx)` returns the element at `idx`.
    `knobs` default to `nest.default_map_knobs(out_shape)`."""
    tensors = [placeholder(tuple(int(d) for d in s), dt, n) for n, s, dt in inputs]
    shape = tuple(int(d) for d in out_shape) or (1,)
    knobs = knobs or default_map_knobs(shape)
    check_map_knobs(name, shape, knobs)
    out = compute(shape, lambda *idx: body(tensors, idx), name="out")
    if out_dtype is not None and out.dtype != out_dtype:
        raise TypeError(f"{name}: the expression is {out.dtype}, the output {out_dtype}")
    s = create_schedule([out])
    axes = list(s[out].op.axis)
    if len(axes) == 1:
        inner = axes[0]
        if knobs.row:
            outer, inner = s[out].split(axes[0], factor=knobs.row)
            if knobs.parallel:
                s[out].parallel(outer)
    else:
        outer, inner = axes[0], axes[-1]
        for ax in axes[1:-1]:
            outer = s[out].fuse(outer, ax)
        if knobs.parallel:
            s[out].parallel(outer)
    if knobs.vectorize:
        s[out].vectorize(inner)
    f = lower(s, name)
    by_name = {b.name: b for b in f.params}
    return replace(f, params=tuple(by_name[t.op.name] for t in tensors) + (by_name["out"],))
