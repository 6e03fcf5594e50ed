"""Bound inference: the region of every stage a schedule realizes, and its loop extents.

For a stage computed at root the region is its whole output. For a stage attached inside loop
`iv` of stage P, the region is what its consumers read during one iteration of `iv`: loops of P
outside (and including) `iv` stay symbolic, loops inside it span their ranges, and every read
index is bounded by affine interval arithmetic. Consumers attached at the same loop contribute
their own (already inferred) regions. The result maps each root axis to `(min, extent)`, with
`min` an expression of the enclosing loop variables and `extent` a constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.schedule.schedule import Fuse, Schedule, ScheduleError, Split, Stage
from compiler.te.tensor import ComputeOp, IterVar
from compiler.tir.affine import simplify, strided_interval, structurally_equal
from compiler.tir.nodes import BinOp, Const, Expr, Load, Var
from compiler.tir.visit import walk

Range = tuple[Expr, int]


class BoundError(ScheduleError):
    """A region cannot be inferred (non-affine access, unsupported attachment)."""


@dataclass
class StageBounds:
    """Inferred facts of one stage: root ranges, extents of every loop, root values in leaves."""

    root: dict[IterVar, Range] = field(default_factory=dict)
    extent: dict[IterVar, int] = field(default_factory=dict)
    value: dict[IterVar, Expr] = field(default_factory=dict)  # 0-based, in leaf vars
    guards: list[Expr] = field(default_factory=list)  # conditions for non-exact splits
    step: dict[IterVar, int] = field(default_factory=dict)  # strided regions (allow_strided)

    def abs_value(self, r: IterVar) -> Expr:
        """Root axis r in loop variables: min + step * (0-based loop value)."""
        rmin, _ = self.root[r]
        st = self.step.get(r, 1)
        v = self.value[r] if st == 1 else BinOp("mul", self.value[r], Const(st))
        return simplify(BinOp("add", rmin, v))


def derive_loops(stage: Stage, root_ext: dict[IterVar, int]) -> StageBounds:
    """Leaf extents and root values from the root extents, through split/fuse relations."""
    b = StageBounds()
    ext = dict(root_ext)
    for rel in stage.relations:
        if isinstance(rel, Split):
            e = ext[rel.parent]
            if rel.factor is not None:
                inner = min(rel.factor, e)
                outer = -(-e // inner)
            else:
                outer = min(rel.nparts, e)
                inner = -(-e // outer)
            ext[rel.outer], ext[rel.inner] = outer, inner
        else:
            ext[rel.fused] = ext[rel.outer] * ext[rel.inner]
    b.extent = ext
    value: dict[IterVar, Expr] = {iv: iv for iv in stage.leaf_iter_vars}
    for rel in reversed(stage.relations):
        if isinstance(rel, Split):
            v = simplify(
                BinOp(
                    "add", BinOp("mul", value[rel.outer], Const(ext[rel.inner])), value[rel.inner]
                )
            )
            value[rel.parent] = v
            if ext[rel.outer] * ext[rel.inner] > ext[rel.parent]:
                b.guards.append(BinOp("lt", v, Const(ext[rel.parent])))
        elif isinstance(rel, Fuse):
            f = value[rel.fused]
            value[rel.outer] = BinOp("floordiv", f, Const(ext[rel.inner]))
            value[rel.inner] = BinOp("floormod", f, Const(ext[rel.inner]))
    b.value = value
    return b


def _relaxed_root_ranges(p: Stage, pb: StageBounds, iv: IterVar) -> dict[Var, Range]:
    """Ranges of P's root axes during one iteration of P's loop `iv`."""
    pos = p.leaf_iter_vars.index(iv)
    inner = {lv: (Const(0), pb.extent[lv]) for lv in p.leaf_iter_vars[pos + 1 :]}
    out: dict[Var, tuple] = {}
    for r in p.root_iter_vars:
        try:
            out[r] = strided_interval(pb.abs_value(r), inner)
        except ValueError:
            raise BoundError(
                f"bound inference: axis {r.name} of stage {p.name} is not affine in its loops "
                f"inside {iv.name} (fused loops cannot enclose a compute_at point)"
            ) from None
    return out


def _union(a: tuple, b: tuple, what: str) -> tuple:
    """Union of (min, extent, step) regions (steps kept only when both agree and align)."""
    if structurally_equal(a[0], b[0]):
        return a[0], max(a[1], b[1]), a[2] if a[2] == b[2] else 1
    d = simplify(BinOp("sub", a[0], b[0]))
    if isinstance(d, Const):
        dv = int(d.value)
        lo = b[0] if dv > 0 else a[0]
        hi = max(dv + a[1], b[1]) if dv > 0 else max(a[1], b[1] - dv)
        step = a[2] if a[2] == b[2] and dv % a[2] == 0 else 1
        return lo, hi, step
    raise BoundError(f"bound inference: reads of {what} start at unrelated positions")


def infer_bounds(sch: Schedule, bodies: dict[Stage, object]) -> dict[Stage, StageBounds]:
    """Bounds of every computed (non-inline) stage; `bodies` are the inlined expressions."""
    result: dict[Stage, StageBounds] = {}
    for st in reversed(sch.stages):
        if st.is_placeholder or st.attach == "inline":
            continue
        op: ComputeOp = st.op
        if st.attach == "root":
            root = {r: (Const(0), r.extent) for r in st.root_iter_vars}
        else:
            p, iv = st.attach_stage, st.attach_ivar
            if p not in result:
                raise BoundError(
                    f"bound inference: {st.name} is attached to {p.name}, which is not computed "
                    "after it"
                )
            p_ranges = _relaxed_root_ranges(p, result[p], iv)
            region: list[tuple | None] = [None] * len(op.axis)
            buf = op.output.buffer
            for c in sch.stages:
                if c.is_placeholder or c.attach == "inline" or c not in bodies:
                    continue
                loads = [n for n in walk(bodies[c]) if isinstance(n, Load) and n.buffer is buf]
                if not loads:
                    continue
                if c is p:
                    ranges = p_ranges
                elif c.attach == "scope" and c.attach_stage is p and c.attach_ivar is iv:
                    cb = result[c]
                    ranges = {r: (*cb.root[r], cb.step.get(r, 1)) for r in cb.root}
                else:
                    raise BoundError(
                        f"bound inference: {st.name} is computed at {p.name}.{iv.name} but read "
                        f"by {c.name}, which is not computed at that same loop"
                    )
                for ld in loads:
                    for d, idx in enumerate(ld.indices):
                        try:
                            r = strided_interval(idx, ranges)
                        except ValueError:
                            raise BoundError(
                                f"bound inference: {c.name} reads {st.name} at a non-affine "
                                f"index (dim {d})"
                            ) from None
                        region[d] = r if region[d] is None else _union(region[d], r, st.name)
            if any(r is None for r in region):
                raise BoundError(f"bound inference: {st.name} has no reader inside {p.name}")
            root, steps = {}, {}
            for a, r in zip(op.axis, region, strict=True):
                lo, ext, step = r
                if a in st.strided_axes and step > 1 and (ext - 1) % step == 0:
                    root[a] = (simplify(lo), (ext - 1) // step + 1)
                    steps[a] = step
                else:
                    root[a] = (simplify(lo), min(ext, a.extent))
            root.update({r: (Const(0), r.extent) for r in op.reduce_axis})
        if st.attach == "root":
            steps = {}
        sb = derive_loops(st, {r: e for r, (_, e) in root.items()})
        sb.root = root
        sb.step = steps
        result[st] = sb
    return result
