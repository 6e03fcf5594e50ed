"""The knob space of an element-wise accelerator operator (standalone int8 Add, lone requantize).

`compiler/vta/elementwise.py` schedules these with `vta_gemm.Knobs` restricted to what its
schedule reads: `tile_b`, `tile_co` (channel blocks), `tile_h`, `tile_w` (divisors of the
blocked extents) and the virtual-thread axis (`vt_axis` ∈ none | h | oc). `check` rejects
`threading` (two threads need an even tile count on that axis) and `sram_acc` (the operand
tiles of every thread overflow the accumulator: the heuristic's own rule, `elementwise_knobs`).
"""

from __future__ import annotations

from compiler.schedule.vta_gemm import Knobs
from compiler.tune.space import GridSpace, _divisors

VT_AXES = ("none", "h", "oc")
REASONS = ("threading", "sram_acc")


def blocked_dims(op) -> tuple[int, int, int, int]:
    """(batch blocks, channel blocks, H, W) of the operator's blocked output (H = W = 1: NC)."""
    s = op.output.shape
    return (s[0], s[1], s[2], s[3]) if len(s) == 6 else (s[0], s[1], 1, 1)


class EltwiseSpace(GridSpace):
    family = "eltwise"

    def __init__(self, task) -> None:
        self.task = task
        self.cfg = task.hw
        self.op = task.build_op()
        self.dims = nb, cb, h, w = blocked_dims(self.op)
        axes = [("tile_b", nb), ("tile_co", cb), ("tile_h", h), ("tile_w", w)]
        self._set_axes([(n, tuple(_divisors(e))) for n, e in axes] + [("vt_axis", VT_AXES)])

    def knobs(self, point: tuple[int, ...]) -> Knobs:
        v = {name: vals[i] for (name, vals), i in zip(self.axes, point, strict=True)}
        return Knobs(v["tile_b"], v["tile_h"], v["tile_w"], 1, v["tile_co"],
                     2 if v["vt_axis"] == "h" else 1, 2 if v["vt_axis"] == "oc" else 1)  # fmt: skip

    def point(self, k: Knobs) -> tuple[int, ...]:
        vt = "h" if k.h_threading > 1 else "oc" if k.oc_threading > 1 else "none"
        v = k.to_dict() | {"vt_axis": vt}
        return tuple(vals.index(v[name]) for name, vals in self.axes)

    def check_knobs(self, k: Knobs) -> str | None:
        _, cb, h, _ = self.dims
        if (k.h_threading > 1 and (h // k.tile_h) % 2) or (
            k.oc_threading > 1 and (cb // k.tile_co) % 2
        ):
            return "threading"
        rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
        if k.vthreads * rows * len(self.op.acc_loads) > self.cfg.acc_depth:
            return "sram_acc"
        return None

    def outside(self, values: dict) -> tuple[str, object, tuple] | None:
        """As `GridSpace.outside`, with the knobs this schedule does not read pinned (tile_ci
        and w_threading 1) and at most one of h / oc threading at 2."""
        for name in ("tile_ci", "w_threading"):
            if values.get(name, 1) != 1:
                return name, values[name], (1,)
        thr = [n for n in ("h_threading", "oc_threading") if values.get(n, 1) != 1]
        for n in thr:
            if values[n] != 2 or len(thr) > 1:
                return n, values[n], (1, 2)
        return super().outside(values)
