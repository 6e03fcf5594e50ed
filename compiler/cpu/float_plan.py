"""Run a float graph on the CPU with activations kept in the blocked NCHWc layout.

    plan = plan_float_model(fm)          # a FloatModel (compiler/driver/model.py) or a Graph
    outputs, step_s = plan.run(feeds)    # graph outputs (copies), wall seconds per step
    print(plan)                          # the step list (VTAC_DEBUG=1 prints it when planned)

Planning, in order:
1. match (`float_match.py`): Convs the NCHWc kernel takes, each with its single-use epilogue
   fused (bias, then an optional residual `Add`, then an optional `Relu`); MaxPool and
   GlobalAveragePool on NCHWc inputs; Gemm with a constant B as a dense kernel; Flatten and
   Reshape as views. Everything else is a node step on NCHW arrays (`node_step.py`:
   CPU_KERNELS, else NumPy).
2. layouts: a value an NCHWc step produces is kept with its producer's channel block
   (the conv's `oc_bn`) and a zero border as wide as the largest padding among its NCHWc
   readers. A residual must have exactly the fused output's layout, so the two share one
   border (union-find over (value, block), border = the class's largest need). A reader that
   needs another block gets a repack, NCHW readers (node steps, graph outputs) an unpack, and
   an NCHWc reader of an NCHW value a pack: conversion steps made once per run, before their
   first reader.
3. buffers: every NCHWc form, unpacked NCHW form and kernel output is allocated once, zeroed
   (borders stay zero: kernels write interiors only) and reused by every run; NCHWc forms of
   one shape whose lifetimes do not overlap share a buffer. Constant weights are packed once,
   here. Graph outputs are copied out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.cpu import layout, ops
from compiler.cpu.conv2d import conv2d_nchwc
from compiler.cpu.dense import default_dense_knobs, dense, pack_dense_weight
from compiler.cpu.float_match import Group, ModelView, match_groups
from compiler.cpu.node_step import NodeStep
from compiler.cpu.pool_nchwc import global_avg_pool_nchwc, max_pool_nchwc
from compiler.llvm import vector_lanes
from compiler.tir.transform import debug_print

F32 = "float32"


def aligned(like) -> np.ndarray:
    """A zeroed float32 array of shape `like` (or a copy of the array `like`) whose data starts
    on a 64-byte boundary: every vector load and store of the NCHWc kernels then stays inside
    one cache line (NumPy only guarantees 16 bytes)."""
    src = like if isinstance(like, np.ndarray) else None
    shape = src.shape if src is not None else tuple(like)
    size = int(np.prod(shape, dtype=np.int64))
    raw = np.zeros(size + 16, np.float32)
    start = (-raw.ctypes.data % 64) // 4
    out = raw[start : start + size].reshape(shape)
    if src is not None:
        out[...] = src
    return out


class PlanError(ValueError):
    """The graph cannot be planned (the message names the value or node at fault)."""


@dataclass
class Step:
    """One call of the plan: `fn(env)` reads and writes `env` (value name or (value, block)
    -> array). `kind`: conv, maxpool, gap, dense, view, pack, unpack, repack or node."""

    kind: str
    name: str  # the graph nodes it computes, joined by '+', or the value it converts
    reads: tuple[str, ...]  # printed forms: `v` (NCHW) or `v@c<block>b<border>`
    writes: tuple[str, ...]
    detail: str
    fn: Callable[[dict], None]
    nodes: tuple[str, ...] = ()
    node: NodeStep | None = None  # for node steps: which kernel ran (impl, why)

    def __str__(self) -> str:
        kind = f"node/{self.node.impl}" if self.node else self.kind
        text = f"{kind:<11} {self.name}: {', '.join(self.reads)} -> {', '.join(self.writes)}"
        return f"{text}  [{self.detail}]" if self.detail else text


@dataclass
class FloatPlan:
    name: str
    inputs: list[str]
    outputs: list[str]
    input_types: dict[str, tuple[tuple[int, ...], str]]
    steps: list[Step] = field(default_factory=list)
    static: dict = field(default_factory=dict)  # constants and the persistent buffers

    def run(self, feeds: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[float]]:
        """Graph outputs (fresh copies) and the wall time of every step, in seconds."""
        env = dict(self.static)
        for v in self.inputs:
            shape, dtype = self.input_types[v]
            env[v] = np.ascontiguousarray(feeds[v], dtype=dtype)
        times = []
        for st in self.steps:
            t0 = time.perf_counter()
            st.fn(env)
            times.append(time.perf_counter() - t0)
        return {o: np.array(env[o]) for o in self.outputs}, times

    @property
    def numpy_nodes(self) -> dict[str, str]:
        """Node steps on the NumPy reference kernels (settled by the first run) and why."""
        return {
            s.node.node.name: s.node.why for s in self.steps if s.node and s.node.impl == "numpy"
        }

    def __str__(self) -> str:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        head = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines = [f"float plan {self.name}: {len(self.steps)} steps ({head})"]
        lines += [f"  {i:3d} {s}" for i, s in enumerate(self.steps)]
        return "\n".join(lines)

    __repr__ = __str__


class _Borders:
    """Union-find over (value, block); a class's border is the largest need of its members."""

    def __init__(self):
        self.parent: dict[tuple, tuple] = {}
        self.need: dict[tuple, int] = {}

    def find(self, k: tuple) -> tuple:
        self.parent.setdefault(k, k)
        self.need.setdefault(k, 0)
        while self.parent[k] != k:
            k = self.parent[k]
        return k

    def require(self, k: tuple, border: int) -> None:
        r = self.find(k)
        self.need[r] = max(self.need[r], border)

    def same(self, a: tuple, b: tuple) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.need[ra] = max(self.need[ra], self.need[rb])

    def __getitem__(self, k: tuple) -> int:
        return self.need[self.find(k)]


def _borders(groups: list[Group], blocks: dict[str, int]) -> _Borders:
    bd = _Borders()
    for v, bn in blocks.items():
        bd.require((v, bn), 0)
    for g in groups:
        if g.kind == "conv":
            s, kn = g.p["shape"], g.p["kn"]
            bd.require((g.x, kn.ic_bn), max(s.pad))
            if g.p["res"]:
                bd.same((g.out, kn.oc_bn), (g.p["res"], kn.oc_bn))
        elif g.kind in ("maxpool", "gap"):
            bd.require((g.x, blocks[g.x]), g.p.get("pad", 0))
    return bd


class _Builder:
    def __init__(self, m: ModelView):
        self.m = m
        self.groups, self.blocks = match_groups(m)
        self.bd = _borders(self.groups, self.blocks)
        types = {v: t for v, t in m.types.items() if v in m.inputs}
        self.plan = FloatPlan(m.name, m.inputs, m.outputs, types)
        self.plan.static.update(m.constants)
        self.have = {(v, 0) for v in list(m.inputs) + list(m.constants)}
        # NCHWc buffers: shape, first writing step and last reading step, for sharing
        self.shapes: dict[tuple, tuple] = {}
        self.first: dict[tuple, int] = {}
        self.last: dict[tuple, int] = {}
        self.pending_w: list[tuple] = []
        self.pending_r: list[tuple] = []

    def form(self, v: str, bn: int) -> str:
        return v if bn == 0 else f"{v}@c{bn}b{self.bd[(v, bn)]}"

    def buffer(self, v: str, bn: int) -> tuple:
        """The env key of the NCHWc form (v, bn), written by the next step added (its buffer
        is assigned by `allocate` once every step is known)."""
        key = (v, bn)
        n, c, h, w = self.m.types[v][0]
        b = self.bd[key]
        self.shapes[key] = (n, c // bn, h + 2 * b, w + 2 * b, bn)
        self.pending_w.append(key)
        return key

    def allocate(self) -> None:
        """One zeroed buffer per NCHWc form, shared between forms of the same shape whose
        lifetimes do not overlap (a step's outputs never take a buffer it reads): a smaller
        working set for the caches. Kernels write interiors only, so shared borders stay 0."""
        free: dict[tuple, list[np.ndarray]] = {}
        born: dict[int, list[tuple]] = {}
        dies: dict[int, list[tuple]] = {}
        for key, i in self.first.items():
            born.setdefault(i, []).append(key)
            dies.setdefault(max(i, self.last.get(key, i)), []).append(key)
        for i in range(len(self.plan.steps)):
            for key in born.get(i, []):
                shape = self.shapes[key]
                pool = free.get(shape)
                self.plan.static[key] = pool.pop() if pool else aligned(shape)
            for key in dies.get(i, []):
                free.setdefault(self.shapes[key], []).append(self.plan.static[key])

    def add(self, kind, name, reads, writes, detail, fn, nodes=(), node=None) -> None:
        i = len(self.plan.steps)
        self.first.update((k, i) for k in self.pending_w)
        self.last.update((k, i) for k in self.pending_r)
        self.pending_w, self.pending_r = [], []
        self.plan.steps.append(Step(kind, name, tuple(reads), tuple(writes), detail, fn,
                                    tuple(nodes), node))  # fmt: skip

    def need(self, v: str, bn: int):
        """Make (v, bn) available (a conversion step if needed); returns its env key."""
        if (v, bn) in self.have:
            if bn:
                self.pending_r.append((v, bn))
            return v if bn == 0 else (v, bn)
        src_bn = self.blocks.get(v, 0)
        if src_bn == 0 and (v, 0) not in self.have:
            raise PlanError(f"value {v!r} is read before any node produces it")
        n, c, h, w = self.m.types[v][0]
        if bn == 0:  # unpack the NCHWc primary form
            xb, b = self.need(v, src_bn), self.bd[(v, src_bn)]
            k = ops.kernel(("plan_unpack", n, c, h, w, src_bn, b),
                           lambda: layout.unpack_nchwc(n, c, h, w, src_bn, in_pad=b))  # fmt: skip
            out = self.plan.static[v] = aligned((n, c, h, w))
            self.add("unpack", v, [self.form(v, src_bn)], [v], "", lambda env: k(env[xb], out))
            self.have.add((v, 0))
            return v
        b = self.bd[(v, bn)]
        if src_bn == 0:  # pack an NCHW value
            src, out = self.need(v, 0), self.buffer(v, bn)
            k = ops.kernel(("plan_pack", n, c, h, w, bn, b),
                           lambda: layout.pack_nchwc(n, c, h, w, bn, (b, b)))  # fmt: skip

            def fn(env):
                k(np.ascontiguousarray(env[src], np.float32), env[out])

            self.add("pack", v, [v], [self.form(v, bn)], "", fn)
        else:
            sb, src = self.bd[(v, src_bn)], self.need(v, src_bn)
            out = self.buffer(v, bn)
            k = ops.kernel(("plan_repack", n, c, h, w, src_bn, sb, bn, b),
                           lambda: layout.repack_nchwc(n, c, h, w, src_bn, sb, bn, b))  # fmt: skip
            self.add("repack", v, [self.form(v, src_bn)], [self.form(v, bn)], "",
                     lambda env: k(env[src], env[out]))  # fmt: skip
        self.have.add((v, bn))
        self.pending_r.append((v, bn))
        return (v, bn)

    def conv(self, g: Group) -> None:
        s, kn, p = g.p["shape"], g.p["kn"], g.p
        xk, in_pad = self.need(g.x, kn.ic_bn), self.bd[(g.x, kn.ic_bn)]
        res = self.need(p["res"], kn.oc_bn) if p["res"] else None
        out_pad = self.bd[(g.out, kn.oc_bn)]
        out = self.buffer(g.out, kn.oc_bn)
        key = ("plan_conv", s, kn, p["relu"], res is not None, in_pad, out_pad)
        kw = {"in_pad": (in_pad, in_pad), "out_pad": out_pad, "residual": res is not None}
        k = ops.kernel(key, lambda: conv2d_nchwc(s, kn, True, p["relu"], **kw))
        w = aligned(layout.pack_conv_weight(self.m.constants[p["w"]], kn.ic_bn, kn.oc_bn))
        b = self.m.constants[p["b"]] if p["b"] else np.zeros(s.o, np.float32)
        b = np.ascontiguousarray(b, np.float32).reshape(-1, kn.oc_bn)

        def fn(env):
            if res:
                k(env[xk], w, b, env[res], env[out])
            else:
                k(env[xk], w, b, env[out])

        reads = [self.form(g.x, kn.ic_bn)] + ([self.form(p["res"], kn.oc_bn)] if res else [])
        (sh, sw), (ph, pw) = s.stride, s.pad
        detail = (f"{s.kh}x{s.kw}/{sh}x{sw} pad {ph},{pw}; ic_bn {kn.ic_bn} oc_bn {kn.oc_bn} "
                  f"tile {kn.ow_tile}; bias" + (" + residual" if res else "")
                  + (" + relu" if p["relu"] else ""))  # fmt: skip
        self.add("conv", "+".join(n.name for n in g.nodes), reads,
                 [self.form(g.out, kn.oc_bn)], detail, fn, [n.name for n in g.nodes])  # fmt: skip
        self.have.add((g.out, kn.oc_bn))

    def pool(self, g: Group) -> None:
        bn = self.blocks[g.x]
        xk, in_pad = self.need(g.x, bn), self.bd[(g.x, bn)]
        n, c, h, w = self.m.types[g.x][0]
        node = g.nodes[0]
        if g.kind == "gap":
            k = ops.kernel(("plan_gap", n, c // bn, h, w, bn, in_pad),
                           lambda: global_avg_pool_nchwc(n, c // bn, h, w, bn, in_pad))  # fmt: skip
            out = aligned((n, c // bn, bn))
            self.plan.static[g.out] = out.reshape(n, c, 1, 1)  # NCHWc [N, CB, bn] is NCHW here
            self.add("gap", node.name, [self.form(g.x, bn)], [g.out], "",
                     lambda env: k(env[xk], out), [node.name])  # fmt: skip
            self.have.add((g.out, 0))
            return
        kk, s, pad = g.p["k"], g.p["s"], g.p["pad"]
        out_pad = self.bd[(g.out, bn)]
        out = self.buffer(g.out, bn)
        key = ("plan_maxpool", n, c // bn, h, w, bn, kk, s, pad, in_pad, out_pad)
        k = ops.kernel(key, lambda: max_pool_nchwc(n, c // bn, h, w, bn, kk, s, pad, in_pad,
                                                   out_pad))  # fmt: skip
        self.add("maxpool", node.name, [self.form(g.x, bn)], [self.form(g.out, bn)],
                 f"{kk}x{kk}/{s} pad {pad} (zero border: input >= 0)" if pad else f"{kk}x{kk}/{s}",
                 lambda env: k(env[xk], env[out]), [node.name])  # fmt: skip
        self.have.add((g.out, bn))

    def dense(self, g: Group) -> None:
        wt, node = g.p["w"], g.nodes[0]
        (m_, kd), nd = self.m.types[g.x][0], wt.shape[1]
        kn = default_dense_knobs(m_, kd, nd, vector_lanes())
        k = ops.kernel(("plan_dense", m_, kd, nd, kn), lambda: dense(m_, kd, nd, kn, bias=True))
        wp = aligned(pack_dense_weight(wt, kn.nb)[None])
        b = self.m.constants[g.p["b"]] if g.p["b"] else np.zeros(nd, np.float32)
        b = np.ascontiguousarray(b, np.float32)
        out = aligned((1, m_, nd))
        self.plan.static[g.out] = out[0]
        src = self.need(g.x, 0)

        def fn(env):
            k(np.ascontiguousarray(env[src], np.float32).reshape(1, m_, kd), wp, b, out)

        self.add("dense", node.name, [g.x], [g.out], f"nb {kn.nb} m_tile {kn.m_tile}", fn,
                 [node.name])  # fmt: skip
        self.have.add((g.out, 0))

    def view(self, g: Group) -> None:
        src, shape, node = self.need(g.x, 0), self.m.types[g.out][0], g.nodes[0]

        def fn(env):
            env[g.out] = env[src].reshape(shape)

        self.add("view", node.name, [g.x], [g.out], f"{node.op} to {shape}", fn, [node.name])
        self.have.add((g.out, 0))

    def node(self, g: Group) -> None:
        node = g.nodes[0]
        for v in node.inputs:
            if v:
                self.need(v, 0)
        ns = NodeStep(node, self.m.opset)
        outs = [o for o in node.outputs if o]
        self.add("node", node.name, [v for v in node.inputs if v], outs, node.op, ns,
                 [node.name], ns)  # fmt: skip
        self.have.update((o, 0) for o in outs)

    def build(self) -> FloatPlan:
        for g in self.groups:
            getattr(self, "pool" if g.kind in ("maxpool", "gap") else g.kind)(g)
        for o in self.m.outputs:
            self.need(o, 0)
        self.allocate()
        return self.plan


def plan_float_model(model) -> FloatPlan:
    """Plan `model` (a FloatModel or a Graph) on the NCHWc kernels (see the module docstring).

    Compiles every kernel and packs every constant weight now; `FloatPlan.run` only calls them.
    """
    plan = _Builder(ModelView(model)).build()
    debug_print(1, str(plan))
    return plan
