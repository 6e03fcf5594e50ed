"""Schedules: *how* a tensor expression is computed (loop structure, placement, memory scopes).

    s = create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[C].reorder(xo, ...); s[C].vectorize(xi)
    AA = s.cache_read(A, "vta.inp", [C]); s[AA].compute_at(s[C], xo); s[AA].pragma(..., "dma_copy")

A `Stage` per operation holds the leaf loop order (after split/fuse/reorder), the relations that
map leaf loops back to the operation's axes, where the stage is computed (root, inline, or
attached inside a loop of another stage), loop kinds (parallel/vectorized/unrolled/vthread),
pragmas and tensorize marks. Lowering (`compiler.tir.lower`) turns a Schedule into loop IR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compiler.te.tensor import (
    ComputeOp,
    IterVar,
    Operation,
    PlaceholderOp,
    Reduce,
    Tensor,
    compute,
    topo_order,
)
from compiler.tir.nodes import ForKind, Load
from compiler.tir.visit import Mutator


class ScheduleError(ValueError):
    """A schedule primitive was applied to something it cannot apply to."""


@dataclass(frozen=True, eq=False)
class Split:
    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: int | None  # inner extent, or
    nparts: int | None  # outer extent


@dataclass(frozen=True, eq=False)
class Fuse:
    outer: IterVar
    inner: IterVar
    fused: IterVar


class Stage:
    """Scheduling state of one operation."""

    def __init__(self, op: Operation, sch: Schedule):
        self.op = op
        self.sch = sch
        self.scope = "global"
        self.attach: str = "root"  # "root" | "inline" | "scope"
        self.attach_stage: Stage | None = None
        self.attach_ivar: IterVar | None = None
        self.relations: list[Split | Fuse] = []
        self.kinds: dict[IterVar, ForKind] = {}
        self.pragmas: dict[IterVar, list[str]] = {}
        self.tensorized: dict[IterVar, str] = {}
        self.strided_axes: set[IterVar] = set()
        if isinstance(op, ComputeOp):
            self.leaf_iter_vars: list[IterVar] = list(op.axis) + list(op.reduce_axis)
        else:
            self.leaf_iter_vars = []

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def is_placeholder(self) -> bool:
        return isinstance(self.op, PlaceholderOp)

    @property
    def root_iter_vars(self) -> list[IterVar]:
        return (
            list(self.op.axis) + list(self.op.reduce_axis) if isinstance(self.op, ComputeOp) else []
        )

    def __repr__(self) -> str:
        return f"Stage({self.name}, {self.attach}, scope={self.scope})"

    # ----- loop structure -------------------------------------------------------------------
    def _leaf_pos(self, iv: IterVar, prim: str) -> int:
        for i, x in enumerate(self.leaf_iter_vars):
            if x is iv:
                return i
        raise ScheduleError(
            f"{prim} on stage {self.name}: {iv.name} is not a current loop of this stage "
            f"(loops: {', '.join(v.name for v in self.leaf_iter_vars)})"
        )

    def split(
        self, iv: IterVar, factor: int | None = None, nparts: int | None = None
    ) -> tuple[IterVar, IterVar]:
        """Split loop `iv` into (outer, inner) with inner extent `factor` or outer `nparts`."""
        if (factor is None) == (nparts is None):
            raise ScheduleError(
                f"split of {self.name}.{iv.name}: give exactly one of factor, nparts"
            )
        pos = self._leaf_pos(iv, "split")
        n = factor if factor is not None else nparts
        if int(n) < 1:
            raise ScheduleError(f"split of {self.name}.{iv.name}: factor/nparts must be >= 1")
        if factor is not None:
            inner_ext, outer_ext = int(factor), -(-iv.extent // int(factor))
        else:
            outer_ext, inner_ext = int(nparts), -(-iv.extent // int(nparts))
        outer = IterVar(f"{iv.name}.o", "int32", outer_ext, iv.kind)
        inner = IterVar(f"{iv.name}.i", "int32", inner_ext, iv.kind)
        self.relations.append(Split(iv, outer, inner, factor, nparts))
        self.leaf_iter_vars[pos : pos + 1] = [outer, inner]
        return outer, inner

    def tile(self, x: IterVar, y: IterVar, x_factor: int, y_factor: int):
        """Split x and y and order the loops (x.o, y.o, x.i, y.i)."""
        xo, xi = self.split(x, x_factor)
        yo, yi = self.split(y, y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    def fuse(self, outer: IterVar, inner: IterVar) -> IterVar:
        """Fuse two adjacent loops (outer directly enclosing inner) into one."""
        po, pi = self._leaf_pos(outer, "fuse"), self._leaf_pos(inner, "fuse")
        if pi != po + 1:
            raise ScheduleError(
                f"fuse on stage {self.name}: {outer.name} must directly enclose {inner.name}"
            )
        if outer.kind != inner.kind:
            raise ScheduleError(f"fuse on stage {self.name}: cannot fuse data and reduce loops")
        fused = IterVar(
            f"{outer.name}.{inner.name}.f", "int32", outer.extent * inner.extent, outer.kind
        )
        self.relations.append(Fuse(outer, inner, fused))
        self.leaf_iter_vars[po : pi + 1] = [fused]
        return fused

    def reorder(self, *ivs: IterVar) -> None:
        """Put the given loops in this order, in the positions they currently occupy."""
        pos = sorted(self._leaf_pos(iv, "reorder") for iv in ivs)
        if len(set(pos)) != len(pos):
            raise ScheduleError(f"reorder on stage {self.name}: a loop is listed twice")
        for p, iv in zip(pos, ivs, strict=True):
            self.leaf_iter_vars[p] = iv

    # ----- placement --------------------------------------------------------------------------
    def compute_at(self, parent: Stage, iv: IterVar) -> None:
        """Compute this stage inside loop `iv` of `parent`, only the region that loop needs."""
        parent._leaf_pos(iv, "compute_at")
        if self.is_placeholder:
            raise ScheduleError(f"compute_at: {self.name} is an input, it is not computed")
        self.attach, self.attach_stage, self.attach_ivar = "scope", parent, iv

    def compute_inline(self) -> None:
        """Substitute this stage's expression into its consumers (no buffer of its own)."""
        if not isinstance(self.op, ComputeOp) or isinstance(self.op.body, Reduce):
            raise ScheduleError(f"compute_inline: {self.name} is not an element-wise compute")
        self.attach = "inline"

    def compute_root(self) -> None:
        self.attach, self.attach_stage, self.attach_ivar = "root", None, None

    def allow_strided(self, axis: IterVar) -> None:
        """Realize only every k-th element along `axis` when the readers touch no others.

        (e.g. the rows a stride-2 1x1 convolution reads); the buffer is compacted along it.
        """
        if not isinstance(self.op, ComputeOp) or axis not in self.op.axis:
            raise ScheduleError(f"allow_strided on stage {self.name}: {axis.name} is not an axis")
        self.strided_axes.add(axis)

    def set_scope(self, scope: str) -> None:
        """Realize this stage's output in memory `scope` (e.g. "local", "vta.acc")."""
        self.scope = scope

    # ----- loop annotations -------------------------------------------------------------------
    def _kind(self, iv: IterVar, kind: ForKind, prim: str) -> None:
        self._leaf_pos(iv, prim)
        self.kinds[iv] = kind

    def vectorize(self, iv: IterVar) -> None:
        self._kind(iv, ForKind.VECTORIZED, "vectorize")

    def unroll(self, iv: IterVar) -> None:
        self._kind(iv, ForKind.UNROLLED, "unroll")

    def parallel(self, iv: IterVar) -> None:
        self._kind(iv, ForKind.PARALLEL, "parallel")

    def vthread(self, iv: IterVar) -> None:
        """Bind `iv` to virtual threads (accelerator: one ping-pong buffer copy per thread)."""
        self._kind(iv, ForKind.VIRTUAL_THREAD, "vthread")

    def pragma(self, iv: IterVar, name: str) -> None:
        """Mark the loop nest starting at `iv` (e.g. "dma_copy", "alu") for a target pass."""
        self._leaf_pos(iv, "pragma")
        self.pragmas.setdefault(iv, []).append(name)

    def tensorize(self, iv: IterVar, intrin: str) -> None:
        """Mark the loop nest starting at `iv` to be replaced by hardware intrinsic `intrin`."""
        self._leaf_pos(iv, "tensorize")
        self.tensorized[iv] = intrin


class _ReplaceLoads(Mutator):
    def __init__(self, old, new):
        self.old, self.new = old, new

    def visit_Load(self, node):  # noqa: N802
        return Load(self.new, node.indices) if node.buffer is self.old else node


def _rewrite_op(op: ComputeOp, old_buf, new_buf) -> ComputeOp:
    r = _ReplaceLoads(old_buf, new_buf)
    body = op.body
    if isinstance(body, Reduce):
        body = Reduce(body.combiner, r.visit(body.source), body.axis, r.visit(body.init))
    else:
        body = r.visit(body)
    return ComputeOp(op.name, op.axis, body, output=op.output, tag=op.tag)


class Schedule:
    """The stages of every operation reachable from `outputs`, producers first."""

    def __init__(self, outputs: Sequence[Tensor]):
        self.outputs = list(outputs)
        self.stages: list[Stage] = [Stage(op, self) for op in topo_order(self.outputs)]

    def __getitem__(self, t: Tensor | Operation) -> Stage:
        """The stage computing tensor `t` (or operation `t`, as defined or as rewritten by
        cache_read / cache_write: a stage is identified by its output tensor)."""
        out = t if isinstance(t, Tensor) else getattr(t, "output", None)
        for s in self.stages:
            if s.op is t or (out is not None and s.op.output is out):
                return s
        raise ScheduleError(f"{getattr(t, 'name', t)!r} is not part of this schedule")

    def stage_of_tensor(self, t: Tensor) -> Stage:
        for s in self.stages:
            if s.op.output is t:
                return s
        raise ScheduleError(f"tensor {t.name!r} is not part of this schedule")

    def is_output(self, stage: Stage) -> bool:
        return any(stage.op.output is t for t in self.outputs)

    def consumers(self, t: Tensor) -> list[Stage]:
        return [s for s in self.stages if any(x is t for x in s.op.inputs)]

    def cache_read(self, t: Tensor, scope: str, readers: Sequence[Tensor]) -> Tensor:
        """A copy of `t` in `scope`, read by `readers` instead of `t`."""
        cache = compute(t.shape, lambda *i: t[i], name=f"{t.name}.{scope.split('.')[-1]}")
        for r in readers:
            st = self.stage_of_tensor(r)
            if not isinstance(st.op, ComputeOp) or not any(x is t for x in st.op.inputs):
                raise ScheduleError(f"cache_read: {r.name} does not read {t.name}")
            st.op = _rewrite_op(st.op, t.buffer, cache.buffer)
        first = min(self.stages.index(self.stage_of_tensor(r)) for r in readers)
        stage = Stage(cache.op, self)
        stage.scope = scope
        self.stages.insert(first, stage)
        return cache

    def cache_write(self, t: Tensor, scope: str) -> Tensor:
        """Compute `t` into a `scope` buffer; `t`'s own stage becomes a copy out of it."""
        st = self.stage_of_tensor(t)
        if not isinstance(st.op, ComputeOp) or st.relations:
            raise ScheduleError(f"cache_write: {t.name} must be an unscheduled compute")
        op = st.op
        from compiler.tir.visit import substitute

        new_axis = tuple(IterVar(a.name, "int32", a.extent, "data") for a in op.axis)
        amap = dict(zip(op.axis, new_axis, strict=True))
        if isinstance(op.body, Reduce):
            new_red = tuple(IterVar(a.name, "int32", a.extent, "reduce") for a in op.reduce_axis)
            amap.update(zip(op.reduce_axis, new_red, strict=True))
            body = Reduce(
                op.body.combiner,
                substitute(op.body.source, amap),
                new_red,
                substitute(op.body.init, amap),
            )
        else:
            body = substitute(op.body, amap)
        local = ComputeOp(f"{op.name}.{scope.split('.')[-1]}", new_axis, body, tag=op.tag)
        st.op = ComputeOp(
            op.name, op.axis, local.output[tuple(op.axis)], output=op.output, tag=op.tag
        )
        st.leaf_iter_vars = list(op.axis)
        stage = Stage(local, self)
        stage.scope = scope
        self.stages.insert(self.stages.index(st), stage)
        return local.output


def create_schedule(outputs: Tensor | Sequence[Tensor]) -> Schedule:
    """A default schedule: every stage at root, loops in axis order."""
    return Schedule([outputs] if isinstance(outputs, Tensor) else list(outputs))
