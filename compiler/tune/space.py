"""The accelerator knob space of a task, and the validity filter applied before measuring.

A point is a tuple of indices, one per axis (`VtaSpace.axes`); `knobs(point)` maps it to
`vta_gemm.Knobs`. The raw space is the product of the axes:

    tile_b, tile_co, tile_h, tile_w, tile_ci   every divisor of the blocked extent
    vt_axis       none | h | oc | w            which tile loop carries the 2 virtual threads
    tile_order    co_h_w | h_w_co | h_co_w     nesting of the output-tile loops
    bias_on       gemm | alu                   which unit adds the bias (an operator variant)
    uop_split     -1 | 0 | +1                  shift of the GEMM micro-op folding cut

`check(point)` returns None for a point worth measuring, else the reason it is not:
`threading` (2 threads need an even tile count on that axis), `sram_acc` / `sram_inp` /
`sram_wgt` (the tiles of all threads overflow that SRAM), `uop_buffer` (the micro-op kernels
overflow the micro-op SRAM), `isa_field` (a DMA size, pad or hardware loop count exceeds its
instruction field), `duplicate` (the point compiles to the same program as a canonical one:
a loop order or folding shift that changes nothing).
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property

from compiler.schedule.vta_gemm import TILE_ORDERS, Knobs, op_dims
from compiler.schedule.vta_heuristic import _rows_in, footprint
from compiler.tune.task import Task
from compiler.vta.intrin import uop_fold_split, uop_kernel_budget
from hw_sim.config import LOOP_ITER_WIDTH, MEMOP_PAD_WIDTH, MEMOP_SIZE_WIDTH

VT_AXES = ("none", "h", "oc", "w")
BIAS = ("gemm", "alu")
SPLITS = (0, -1, 1)  # 0 first: the grid starts at the default folding
REASONS = ("threading", "sram_acc", "sram_inp", "sram_wgt", "uop_buffer", "isa_field", "duplicate")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def gemm_fold(d: dict, k: Knobs, budget: int) -> tuple[list[int], int]:
    """(non-unit GEMM nest extents outer to inner, the folding cut with `k.uop_split`)."""
    exts = [
        e for e in (d["kh"], d["kw"], k.tile_ci, k.tile_b, k.tile_co, k.tile_h, k.tile_w) if e > 1
    ]
    p0 = uop_fold_split(exts, budget)
    return exts, min(max(0, p0 + k.uop_split), len(exts))


class GridSpace:
    """What every knob space shares: points are index tuples over `axes` (name, values), the
    raw space is their product, and `check` memoizes the subclass's `check_knobs`."""

    axes: list[tuple[str, tuple]]
    family = "gemm"  # the cost-model feature family (compiler/tune/kinds.py)

    def _set_axes(self, axes: list[tuple[str, tuple]]) -> None:
        self.axes = axes
        self.names = [a for a, _ in axes]
        self.sizes = [len(v) for _, v in axes]
        self._checked: dict[tuple[int, ...], str | None] = {}

    def __len__(self) -> int:
        return math.prod(self.sizes)

    def index(self, point: tuple[int, ...]) -> int:
        """Row-major position of `point` in the raw product (the grid tuner's order)."""
        i = 0
        for p, n in zip(point, self.sizes, strict=True):
            i = i * n + p
        return i

    def from_index(self, i: int) -> tuple[int, ...]:
        out = []
        for n in reversed(self.sizes):
            i, r = divmod(i, n)
            out.append(r)
        return tuple(reversed(out))

    def check(self, point: tuple[int, ...]) -> str | None:
        """None if `point` is worth measuring, else the reason it is not."""
        if point not in self._checked:
            self._checked[point] = self.check_knobs(self.knobs(point))
        return self._checked[point]

    def valid_points(self) -> list[tuple[int, ...]]:
        """Every point `check` accepts, in grid order (enumerates the raw product)."""
        return [
            p for p in itertools.product(*(range(n) for n in self.sizes)) if self.check(p) is None
        ]

    def outside(self, values: dict) -> tuple[str, object, tuple] | None:
        """The first axis whose value in `values` is not one of the axis's values (as
        (name, value, allowed)); None if every axis named in `values` is on the space."""
        for name, vals in self.axes:
            if name in values and values[name] not in vals:
                return name, values[name], vals
        return None


class VtaSpace(GridSpace):
    """The knob space of an accelerator task (see the module docstring)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.cfg = task.hw
        self.ops = {b: task.build_op(b) for b in BIAS}
        d = self.dims = op_dims(self.ops["gemm"])
        spatial = self.ops["gemm"].kind != "dense"
        self._set_axes(
            [
                ("tile_b", tuple(_divisors(d["nb"]))),
                ("tile_co", tuple(_divisors(d["cob"]))),
                ("tile_h", tuple(_divisors(d["oh"]) if spatial else [1])),
                ("tile_w", tuple(_divisors(d["ow"]) if spatial else [1])),
                ("tile_ci", tuple(_divisors(d["cib"]))),
                ("vt_axis", VT_AXES if spatial else ("none", "oc")),
                ("tile_order", TILE_ORDERS if spatial else TILE_ORDERS[:1]),
                ("bias_on", BIAS if self.has_bias else ("gemm",)),
                ("uop_split", SPLITS),
            ]
        )

    @cached_property
    def has_bias(self) -> bool:
        return self.ops["gemm"].bias_gemm is not None

    # ----- points <-> knobs -----------------------------------------------------------
    def knobs(self, point: tuple[int, ...]) -> Knobs:
        v = {name: vals[i] for (name, vals), i in zip(self.axes, point, strict=True)}
        thr = {f"{a}_threading": 2 if v["vt_axis"] == a else 1 for a in ("h", "oc", "w")}
        return Knobs(
            v["tile_b"],
            v["tile_h"],
            v["tile_w"],
            v["tile_ci"],
            v["tile_co"],
            thr["h_threading"],
            thr["oc_threading"],
            thr["w_threading"],
            v["tile_order"],
            v["bias_on"],
            v["uop_split"],
        )

    def point(self, k: Knobs) -> tuple[int, ...]:
        vt = next((a for a in ("h", "oc", "w") if getattr(k, f"{a}_threading") > 1), "none")
        v = k.to_dict() | {"vt_axis": vt, "bias_on": k.bias_on or "gemm"}
        return tuple(vals.index(v[name]) for name, vals in self.axes)

    def outside(self, values: dict) -> tuple[str, object, tuple] | None:
        """As `GridSpace.outside`, with the threadings (1 or 2, on one axis at most) and the
        bias placement ('' = as built) checked as the record stores them."""
        thr = [a for a in ("h", "oc", "w") if values.get(f"{a}_threading", 1) != 1]
        for a in thr:
            if values[f"{a}_threading"] != 2 or len(thr) > 1:
                return f"{a}_threading", values[f"{a}_threading"], (1, 2)
        if values.get("bias_on", "") not in ("", *BIAS):
            return "bias_on", values["bias_on"], ("", *BIAS)
        axes = {n: v for n, v in self.axes if n not in ("vt_axis", "bias_on")}
        return next(((n, values[n], v) for n, v in axes.items()
                     if n in values and values[n] not in v), None)  # fmt: skip

    def op_for(self, k: Knobs):
        return self.ops[k.bias_on or "gemm"]

    # ----- validity ---------------------------------------------------------------------
    def check_knobs(self, k: Knobs) -> str | None:
        d, cfg = self.dims, self.cfg
        op = self.op_for(k)
        for ax, tiles in (
            ("h", d["oh"] // k.tile_h),
            ("oc", d["cob"] // k.tile_co),
            ("w", d["ow"] // k.tile_w),
        ):
            if getattr(k, f"{ax}_threading") > 1 and tiles % 2:
                return "threading"
        f = footprint(op, cfg, k)
        budget = uop_kernel_budget(cfg)
        exts, p = gemm_fold(d, k, budget)
        p0 = uop_fold_split(exts, budget)
        gk = math.prod(exts[p + 2 :])
        if f["acc"] > cfg.acc_depth:
            return "sram_acc"
        if f["inp"] > cfg.inp_depth:
            return "sram_inp"
        if f["wgt"] > cfg.wgt_depth:
            return "sram_wgt"
        if f["uop"] - k.vthreads * f["gemm_kernel"] + k.vthreads * gk > cfg.uop_depth:
            return "uop_buffer"
        th_in = _rows_in(k.tile_h, d["stride"], d["kh"])
        tw_in = (k.tile_w - 1) * d["stride_w"] + d["kw"]
        size_max, loop_max = (1 << MEMOP_SIZE_WIDTH) - 1, (1 << LOOP_ITER_WIDTH) - 1
        if max(th_in, tw_in * k.tile_b, k.tile_co * k.tile_h) > size_max or (
            max(exts[p : p + 2], default=1) > loop_max
            or op.workload.get("pad", 0) >= 1 << MEMOP_PAD_WIDTH
        ):
            return "isa_field"
        if p == p0 and k.uop_split != 0:
            return "duplicate"  # the shift is clamped away: same program as uop_split=0
        if self._order_duplicate(k):
            return "duplicate"
        return None

    def _order_duplicate(self, k: Knobs) -> bool:
        """Loop orders differing only in loops of one tile compile identically."""
        d = self.dims
        counts = {"co": d["cob"] // k.tile_co, "h": d["oh"] // k.tile_h, "w": d["ow"] // k.tile_w}

        def canon(order: str) -> tuple[str, ...]:
            return tuple(a for a in order.split("_") if counts[a] > 1)

        mine = canon(k.tile_order)
        for o in TILE_ORDERS:
            if o == k.tile_order:
                return False
            if canon(o) == mine:
                return True
        return False
