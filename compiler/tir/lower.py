"""Lower a schedule to loop IR (`lower(schedule) -> PrimFunc`).

Steps: (1) inline the stages marked `compute_inline` into their readers; (2) infer bounds
(`compiler.tir.bound`); (3) give every computed, non-output stage a buffer of its region's
shape in its scope; (4) emit each stage's loop nest from its leaf loops (root axes recovered
through the split/fuse relations), with a reduction's initialization placed just outside its
outermost reduction loop; stages attached with `compute_at` are emitted at the top of the
parent loop's body, inside an `Allocate` of their buffer; (5) pragmas become
`Attr("pragma", name)` around their loop and tensorize marks `Attr("tensorize", intrin)`;
vectorize/unroll/parallel/vthread set the `For` kind.

Reads of a realized stage are rebased to its buffer (`index - region min`). The output is
simplified (affine indices in canonical form).
"""

from __future__ import annotations

from compiler.schedule.schedule import Schedule, Stage
from compiler.te.tensor import ComputeOp, IterVar, Reduce, tensor_of
from compiler.tir.affine import interval, simplify
from compiler.tir.bound import StageBounds, infer_bounds
from compiler.tir.nodes import (
    Allocate,
    Attr,
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    IfThenElse,
    Load,
    PrimFunc,
    Stmt,
    Store,
    seq,
)
from compiler.tir.visit import Mutator, substitute


class _Inline(Mutator):
    """Replace reads of inlined tensors by their (recursively inlined) expressions."""

    def __init__(self, inline_ops: dict[Buffer, ComputeOp]):
        self.inline_ops = inline_ops

    def visit_Load(self, node):  # noqa: N802
        op = self.inline_ops.get(node.buffer)
        if op is None:
            return node
        body = self.visit(op.body)
        return substitute(body, dict(zip(op.axis, node.indices, strict=True)))


class _Rebase(Mutator):
    """Point reads of realized stages at their buffers, relative to the region minimum."""

    def __init__(self, realized: dict[Buffer, tuple[Buffer, list, list]]):
        self.realized = realized

    def visit_Load(self, node):  # noqa: N802
        hit = self.realized.get(node.buffer)
        if hit is None:
            return node
        buf, mins, steps = hit
        idx = []
        for i, m, s in zip(node.indices, mins, steps, strict=True):
            rel = BinOp("sub", i, m)
            idx.append(simplify(rel if s == 1 else BinOp("floordiv", simplify(rel), Const(s))))
        return Load(buf, tuple(idx))


def _effective_bodies(sch: Schedule) -> dict[Stage, object]:
    inline = {s.op.output.buffer: s.op for s in sch.stages if s.attach == "inline"}
    m = _Inline(inline)
    out = {}
    for s in sch.stages:
        if s.is_placeholder or s.attach == "inline":
            continue
        body = s.op.body
        if isinstance(body, Reduce):
            out[s] = Reduce(body.combiner, m.visit(body.source), body.axis, m.visit(body.init))
        else:
            out[s] = m.visit(body)
    return out


class _Lowerer:
    def __init__(self, sch: Schedule):
        self.sch = sch
        self.bodies = _effective_bodies(sch)
        self.bounds: dict[Stage, StageBounds] = infer_bounds(sch, self.bodies)
        self.buffers: dict[Stage, Buffer] = {}
        realized: dict[Buffer, tuple[Buffer, list]] = {}
        for st, b in self.bounds.items():
            t = st.op.output
            if sch.is_output(st):
                self.buffers[st] = t.buffer
                continue
            shape = tuple(b.root[a][1] for a in st.op.axis)
            buf = Buffer(st.name, shape, t.dtype, st.scope)
            self.buffers[st] = buf
            realized[t.buffer] = (
                buf,
                [b.root[a][0] for a in st.op.axis],
                [b.step.get(a, 1) for a in st.op.axis],
            )
        # Reads are rebased after the root axes are replaced by loop expressions (stage_stmt):
        # region minimums are expressions of loop variables, not of root axes.
        self.rebase = _Rebase(realized)
        self.children: dict[tuple[int, int], list[Stage]] = {}
        for st in sch.stages:
            if st in self.bounds and st.attach == "scope":
                key = (id(st.attach_stage), id(st.attach_ivar))
                self.children.setdefault(key, []).append(st)

    # ----- one stage --------------------------------------------------------------------------
    def _root_abs(self, st: Stage, b: StageBounds) -> dict[IterVar, object]:
        return {r: b.abs_value(r) for r in st.root_iter_vars}

    def _region_guards(self, st: Stage, b: StageBounds, absval) -> list:
        """Conditions keeping a compute_at region inside the tensor when it can overhang."""
        if st.attach != "scope":
            return []
        ranges = {v: (Const(0), e) for sb in self.bounds.values() for v, e in sb.extent.items()}
        out = []
        for a in st.op.axis:
            rmin, rext = b.root[a]
            try:
                lo, ext = interval(rmin, ranges)
            except ValueError:
                lo, ext = None, 0
            span = (rext - 1) * b.step.get(a, 1) + 1
            if isinstance(lo, Const) and int(lo.value) + ext - 1 + span <= a.extent:
                continue
            out.append(BinOp("lt", absval[a], Const(a.extent)))
        return out

    def _store_indices(self, st: Stage, b: StageBounds, absval) -> tuple:
        if self.sch.is_output(st):
            return tuple(absval[a] for a in st.op.axis)
        return tuple(b.value[a] for a in st.op.axis)  # relative to the region

    def _loop(self, st: Stage, b: StageBounds, iv: IterVar, body: Stmt) -> Stmt:
        kids = self.children.get((id(st), id(iv)), [])
        if kids:
            body = seq(*[self.stage_stmt(k) for k in kids], body)
            for k in reversed(kids):
                body = Allocate(self.buffers[k], body)
        loop: Stmt = For(iv, Const(0), Const(b.extent[iv]), st.kinds.get(iv, ForKind.SERIAL), body)
        if iv in st.tensorized:
            loop = Attr("tensorize", st.tensorized[iv], loop)
        for p in reversed(st.pragmas.get(iv, [])):
            loop = Attr("pragma", p, loop)
        return loop

    def _nest(self, st: Stage, b: StageBounds, leaves: list[IterVar], inner: Stmt) -> Stmt:
        for iv in reversed(leaves):
            inner = self._loop(st, b, iv, inner)
        return inner

    def stage_stmt(self, st: Stage) -> Stmt:
        b = self.bounds[st]
        absval = self._root_abs(st, b)
        buf = self.buffers[st]
        idx = self._store_indices(st, b, absval)
        body = self.bodies[st]
        red = isinstance(body, Reduce)
        src = body.source if red else body
        src = simplify(self.rebase.visit(simplify(substitute(src, absval))))
        update: Stmt = Store(buf, idx, BinOp("add", Load(buf, idx), src) if red else src)
        for g in b.guards + self._region_guards(st, b, absval):
            update = IfThenElse(g, update)
        leaves = st.leaf_iter_vars
        if not red:
            return self._nest(st, b, leaves, update)
        p0 = next(i for i, lv in enumerate(leaves) if lv.kind == "reduce")
        init_leaves = [lv for lv in leaves[p0 + 1 :] if lv.kind == "data"]
        init_val = simplify(self.rebase.visit(simplify(substitute(body.init, absval))))
        init: Stmt = Store(buf, idx, init_val)
        data_guards = [g for g in b.guards if not _mentions_reduce(g)]
        for g in data_guards:
            init = IfThenElse(g, init)
        init_nest = self._nest(st, b, init_leaves, init)
        upd_nest = self._nest(st, b, leaves[p0:], update)
        return self._nest(st, b, leaves[:p0], seq(init_nest, upd_nest))

    # ----- whole function ---------------------------------------------------------------------
    def run(self, name: str) -> PrimFunc:
        top = [
            self.stage_stmt(s) for s in self.sch.stages if s in self.bounds and s.attach == "root"
        ]
        body = seq(*top)
        for s in reversed(self.sch.stages):
            if s in self.bounds and s.attach == "root" and not self.sch.is_output(s):
                body = Allocate(self.buffers[s], body)
        params = [s.op.output.buffer for s in self.sch.stages if s.is_placeholder]
        params += [t.buffer for t in self.sch.outputs]
        return PrimFunc(name, tuple(params), simplify(body))


def _mentions_reduce(e) -> bool:
    from compiler.tir.affine import vars_in

    return any(isinstance(v, IterVar) and v.kind == "reduce" for v in vars_in(e))


def lower(sch: Schedule, name: str = "main") -> PrimFunc:
    """The loop-IR function computing the schedule's outputs from its placeholders."""
    return _Lowerer(sch).run(name)


__all__ = ["lower", "tensor_of"]
