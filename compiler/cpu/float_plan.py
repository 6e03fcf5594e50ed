"""Run a float graph on the CPU with activations kept in the blocked NCHWc layout.

    plan = plan_float_model(fm)          # a FloatModel (compiler/driver/model.py) or a Graph
    outputs, step_s = plan.run(feeds)    # graph outputs (copies), wall seconds per step
    print(plan)                          # the step list

Planning, in order:
1. match (in node order): a Conv the NCHWc kernel takes (2-d, float32, constant weights,
   groups 1, dilation 1, symmetric pads) becomes one step with its single-use epilogue fused:
   bias, then an optional residual `Add` of another value of the same shape (either operand
   order), then an optional `Relu`; the step runs where the last fused node stood. MaxPool
   (square window, equal pads, floor mode) and GlobalAveragePool run on NCHWc inputs; MaxPool
   reads its padding from the zero border, so only on inputs known >= 0 (a fused Relu) or
   without padding. Gemm with a constant B is a dense kernel on weights packed here.
   Everything else is a node step on NCHW arrays (`node_step.py`: CPU_KERNELS, else NumPy).
2. layouts: a value an NCHWc step produces is kept with its producer's channel block
   (the conv's `oc_bn`) and a zero border as wide as the largest padding among its NCHWc
   readers. A residual must have exactly the fused output's layout, so the two share one
   border (union-find over (value, block), border = the class's largest need). A reader that
   needs another block gets a repack, NCHW readers (node steps, graph outputs) an unpack, and
   an NCHWc reader of an NCHW value a pack: conversion steps made once per run, before their
   first reader.
3. buffers: every NCHWc form, unpacked NCHW form and kernel output is allocated once, zeroed
   (borders stay zero: kernels write interiors only) and reused by every run; constant
   weights are packed once, here. Graph outputs are copied out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.cpu import layout, ops
from compiler.cpu.conv2d import Conv2dShape, conv2d_nchwc, default_knobs
from compiler.cpu.dense import default_dense_knobs, dense, pack_dense_weight
from compiler.cpu.node_step import NodeStep
from compiler.cpu.pool_nchwc import global_avg_pool_nchwc, max_pool_nchwc
from compiler.graph.ref import KernelCtx
from compiler.graph.ref.nn import conv_pads
from compiler.llvm import vector_lanes, vector_registers

F32 = "float32"


class PlanError(ValueError):
    """The graph cannot be planned (the message names the value or node at fault)."""


@dataclass
class Step:
    """One call of the plan: `fn(env)` reads and writes `env` (value name or (value, block)
    -> array). `kind`: conv, maxpool, gap, dense, pack, unpack, repack or node."""

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


@dataclass
class _Group:
    kind: str  # conv, maxpool, gap, dense, node
    nodes: list  # NodeSpecs, in graph order (the step runs where the last one stood)
    x: str  # data input
    out: str  # the value the group produces
    p: dict = field(default_factory=dict)  # kind-specific parameters


class _Model:
    """FloatModel or Graph, seen the same way: nodes, types[v] = (shape, dtype), constants."""

    def __init__(self, m):
        self.name = getattr(m, "name", "model")
        self.nodes, self.inputs, self.outputs = list(m.nodes), list(m.inputs), list(m.outputs)
        src = m.types if hasattr(m, "types") else m.tensors
        self.types = {v: (tuple(t.shape), t.dtype) for v, t in src.items()}
        self.constants, self.opset = dict(m.constants), m.opset
        self.uses: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for v in n.inputs:
                if v:
                    self.uses.setdefault(v, []).append(i)

    def single_use(self, v: str) -> int | None:
        u = self.uses.get(v, [])
        return u[0] if len(u) == 1 and v not in self.outputs else None

    def is_f32(self, v: str, rank: int | None = None) -> bool:
        t = self.types.get(v)
        return t is not None and t[1] == F32 and (rank is None or len(t[0]) == rank)


def _ctx(node, opset: int) -> KernelCtx:
    return KernelCtx(dict(node.attrs), opset, node.name, node.op, len(node.outputs))


def _match_conv(i: int, node, m: _Model, claimed: set[int]) -> _Group | None:
    ins = list(node.inputs) + [""] * (3 - len(node.inputs))
    x, w, b = ins[:3]
    if not (m.is_f32(x, 4) and w in m.constants and m.is_f32(w, 4)):
        return None
    if b and not (b in m.constants and m.is_f32(b, 1)):
        return None
    ctx, wt = _ctx(node, m.opset), m.constants[w]
    ksz = tuple(ctx.attr("kernel_shape", wt.shape[2:]))
    strides, dil = tuple(ctx.attr("strides", (1, 1))), tuple(ctx.attr("dilations", (1, 1)))
    if int(ctx.attr("group", 1)) != 1 or dil != (1, 1) or ksz != wt.shape[2:]:
        return None
    (n, c, h, wd), (o, _, kh, kw) = m.types[x][0], wt.shape
    pb, pe = conv_pads(ctx, (h, wd), ksz, strides, dil)
    if list(pb) != list(pe) or c != wt.shape[1]:
        return None
    shape = Conv2dShape(n, c, h, wd, o, kh, kw, strides, (pb[0], pb[1]))
    y = node.outputs[0]
    if m.types[y][0] != (n, o, *shape.out_hw):
        return None
    g = _Group("conv", [node], x, y, {"shape": shape, "w": w, "b": b, "res": None, "relu": False})
    g.p["kn"] = default_knobs(shape, vector_lanes(), vector_registers())
    j = m.single_use(y)
    if (
        j is not None
        and j not in claimed
        and m.nodes[j].op == "Add"
        and len(m.nodes[j].inputs) == 2
    ):
        a, c2 = m.nodes[j].inputs
        other = c2 if a == y else a
        if other != y and m.is_f32(other) and m.types[other][0] == m.types[y][0]:
            g.nodes.append(m.nodes[j])
            g.p["res"], g.out = other, m.nodes[j].outputs[0]
            j = m.single_use(g.out)
    if j is not None and j not in claimed and m.nodes[j].op == "Relu":
        g.nodes.append(m.nodes[j])
        g.p["relu"], g.out = True, m.nodes[j].outputs[0]
    return g


def _match_pool(node, m: _Model, blocks: dict, nonneg: set) -> _Group | None:
    x = node.inputs[0] if node.inputs else ""
    if x not in blocks or not m.is_f32(x, 4) or any(node.outputs[1:]):
        return None
    if node.op == "GlobalAveragePool":
        return _Group("gap", [node], x, node.outputs[0])
    ctx = _ctx(node, m.opset)
    ksz = tuple(ctx.attr("kernel_shape", ()))
    strides, dil = tuple(ctx.attr("strides", (1, 1))), tuple(ctx.attr("dilations", (1, 1)))
    if len(ksz) != 2 or ksz[0] != ksz[1] or strides[0] != strides[1] or dil != (1, 1):
        return None
    if ctx.attr("ceil_mode", 0) or ctx.attr("storage_order", 0):
        return None
    pb, pe = conv_pads(ctx, m.types[x][0][2:], ksz, strides, dil)
    pads = set(pb) | set(pe)
    if len(pads) != 1 or (pads != {0} and x not in nonneg):
        return None
    n, c, h, w = m.types[x][0]
    pad, k, s = pads.pop(), ksz[0], strides[0]
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    if m.types[node.outputs[0]][0] != (n, c, oh, ow):
        return None
    return _Group("maxpool", [node], x, node.outputs[0], {"k": k, "s": s, "pad": pad})


def _match_dense(node, m: _Model) -> _Group | None:
    ins = list(node.inputs) + [""] * (3 - len(node.inputs))
    a, bw, c = ins[:3]
    ctx = _ctx(node, m.opset)
    if not (m.is_f32(a, 2) and bw in m.constants and m.is_f32(bw, 2)) or ctx.attr("transA", 0):
        return None
    if float(ctx.attr("alpha", 1.0)) != 1.0 or float(ctx.attr("beta", 1.0)) != 1.0:
        return None
    wt = m.constants[bw].T if ctx.attr("transB", 0) else m.constants[bw]
    if wt.shape[0] != m.types[a][0][1] or (
        c and not (c in m.constants and m.constants[c].shape == (wt.shape[1],))
    ):
        return None
    return _Group("dense", [node], a, node.outputs[0], {"w": np.ascontiguousarray(wt), "b": c})


def _match(m: _Model) -> tuple[list[_Group], dict[str, int]]:
    index = {id(n): k for k, n in enumerate(m.nodes)}
    claimed: set[int] = set()
    blocks: dict[str, int] = {}  # value -> channel block, for values NCHWc steps produce
    nonneg: set[str] = set()
    groups = []
    for i, node in enumerate(m.nodes):
        if i in claimed:
            continue
        g = None
        if node.op == "Conv":
            g = _match_conv(i, node, m, claimed)
        elif node.op in ("MaxPool", "GlobalAveragePool"):
            g = _match_pool(node, m, blocks, nonneg)
        elif node.op == "Gemm":
            g = _match_dense(node, m)
        g = g or _Group("node", [node], "", "")
        claimed.update(index[id(n)] for n in g.nodes)
        if g.kind == "conv":
            blocks[g.out] = g.p["kn"].oc_bn
        elif g.kind == "maxpool":
            blocks[g.out] = blocks[g.x]
        if (g.kind == "conv" and g.p["relu"]) or (g.kind == "maxpool" and g.x in nonneg):
            nonneg.add(g.out)
        g.p["at"] = max(index[id(n)] for n in g.nodes)
        groups.append(g)
    groups.sort(key=lambda g: g.p["at"])
    return groups, blocks


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


def _borders(groups: list[_Group], blocks: dict[str, int]) -> _Borders:
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
    def __init__(self, m: _Model):
        self.m = m
        self.groups, self.blocks = _match(m)
        self.bd = _borders(self.groups, self.blocks)
        types = {v: t for v, t in m.types.items() if v in m.inputs}
        self.plan = FloatPlan(m.name, m.inputs, m.outputs, types)
        self.plan.static.update(m.constants)
        self.have = {(v, 0) for v in list(m.inputs) + list(m.constants)}

    def form(self, v: str, bn: int) -> str:
        return v if bn == 0 else f"{v}@c{bn}b{self.bd[(v, bn)]}"

    def buffer(self, v: str, bn: int) -> np.ndarray:
        """The persistent zeroed NCHWc buffer of (v, bn) (allocated on first use)."""
        key = (v, bn)
        if key not in self.plan.static:
            n, c, h, w = self.m.types[v][0]
            b = self.bd[key]
            self.plan.static[key] = np.zeros((n, c // bn, h + 2 * b, w + 2 * b, bn), np.float32)
        return self.plan.static[key]

    def add(self, kind, name, reads, writes, detail, fn, nodes=(), node=None) -> None:
        self.plan.steps.append(Step(kind, name, tuple(reads), tuple(writes), detail, fn,
                                    tuple(nodes), node))  # fmt: skip

    def need(self, v: str, bn: int):
        """Make (v, bn) available (a conversion step if needed); returns its env key."""
        if (v, bn) in self.have:
            return v if bn == 0 else (v, bn)
        src_bn = self.blocks.get(v, 0)
        if src_bn == 0 and (v, 0) not in self.have:
            raise PlanError(f"value {v!r} is read before any node produces it")
        n, c, h, w = self.m.types[v][0]
        if bn == 0:  # unpack the NCHWc primary form
            xb, b = self.need(v, src_bn), self.bd[(v, src_bn)]
            k = ops.kernel(("plan_unpack", n, c, h, w, src_bn, b),
                           lambda: layout.unpack_nchwc(n, c, h, w, src_bn, in_pad=b))  # fmt: skip
            out = self.plan.static[v] = np.empty((n, c, h, w), np.float32)
            self.add("unpack", v, [self.form(v, src_bn)], [v], "", lambda env: k(env[xb], out))
            self.have.add((v, 0))
            return v
        out, b = self.buffer(v, bn), self.bd[(v, bn)]
        if src_bn == 0:  # pack an NCHW value
            src = self.need(v, 0)
            k = ops.kernel(("plan_pack", n, c, h, w, bn, b),
                           lambda: layout.pack_nchwc(n, c, h, w, bn, (b, b)))  # fmt: skip

            def fn(env):
                k(np.ascontiguousarray(env[src], np.float32), out)

            self.add("pack", v, [v], [self.form(v, bn)], "", fn)
        else:
            sb, src = self.bd[(v, src_bn)], self.need(v, src_bn)
            k = ops.kernel(("plan_repack", n, c, h, w, src_bn, sb, bn, b),
                           lambda: layout.repack_nchwc(n, c, h, w, src_bn, sb, bn, b))  # fmt: skip
            self.add("repack", v, [self.form(v, src_bn)], [self.form(v, bn)], "",
                     lambda env: k(env[src], out))  # fmt: skip
        self.have.add((v, bn))
        return (v, bn)

    def conv(self, g: _Group) -> None:
        s, kn, p = g.p["shape"], g.p["kn"], g.p
        xk, in_pad = self.need(g.x, kn.ic_bn), self.bd[(g.x, kn.ic_bn)]
        res = self.need(p["res"], kn.oc_bn) if p["res"] else None
        out_pad = self.bd[(g.out, kn.oc_bn)]
        out = self.buffer(g.out, kn.oc_bn)
        key = ("plan_conv", s, kn, p["relu"], res is not None, in_pad, out_pad)
        k = ops.kernel(key, lambda: conv2d_nchwc(s, kn, True, p["relu"], in_pad=(in_pad, in_pad),
                                                 out_pad=out_pad, residual=res is not None))  # fmt: skip
        w = layout.pack_conv_weight(self.m.constants[p["w"]], kn.ic_bn, kn.oc_bn)
        b = self.m.constants[p["b"]] if p["b"] else np.zeros(s.o, np.float32)
        b = np.ascontiguousarray(b, np.float32).reshape(-1, kn.oc_bn)

        def fn(env):
            if res:
                k(env[xk], w, b, env[res], out)
            else:
                k(env[xk], w, b, out)

        reads = [self.form(g.x, kn.ic_bn)] + ([self.form(p["res"], kn.oc_bn)] if res else [])
        (sh, sw), (ph, pw) = s.stride, s.pad
        detail = (f"{s.kh}x{s.kw}/{sh}x{sw} pad {ph},{pw}; ic_bn {kn.ic_bn} oc_bn {kn.oc_bn} "
                  f"tile {kn.ow_tile}; bias" + (" + residual" if res else "")
                  + (" + relu" if p["relu"] else ""))  # fmt: skip
        self.add("conv", "+".join(n.name for n in g.nodes), reads,
                 [self.form(g.out, kn.oc_bn)], detail, fn, [n.name for n in g.nodes])  # fmt: skip
        self.have.add((g.out, kn.oc_bn))

    def pool(self, g: _Group) -> None:
        bn = self.blocks[g.x]
        xk, in_pad = self.need(g.x, bn), self.bd[(g.x, bn)]
        n, c, h, w = self.m.types[g.x][0]
        node = g.nodes[0]
        if g.kind == "gap":
            k = ops.kernel(("plan_gap", n, c // bn, h, w, bn, in_pad),
                           lambda: global_avg_pool_nchwc(n, c // bn, h, w, bn, in_pad))  # fmt: skip
            out = np.zeros((n, c // bn, bn), np.float32)
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
                 lambda env: k(env[xk], out), [node.name])  # fmt: skip
        self.have.add((g.out, bn))

    def dense(self, g: _Group) -> None:
        wt, node = g.p["w"], g.nodes[0]
        (m_, kd), nd = self.m.types[g.x][0], wt.shape[1]
        kn = default_dense_knobs(m_, kd, nd, vector_lanes())
        k = ops.kernel(("plan_dense", m_, kd, nd, kn), lambda: dense(m_, kd, nd, kn, bias=True))
        wp = pack_dense_weight(wt, kn.nb)[None]
        b = self.m.constants[g.p["b"]] if g.p["b"] else np.zeros(nd, np.float32)
        b = np.ascontiguousarray(b, np.float32)
        out = np.zeros((1, m_, nd), np.float32)
        self.plan.static[g.out] = out[0]
        src = self.need(g.x, 0)

        def fn(env):
            k(np.ascontiguousarray(env[src], np.float32).reshape(1, m_, kd), wp, b, out)

        self.add("dense", node.name, [g.x], [g.out], f"nb {kn.nb} m_tile {kn.m_tile}", fn,
                 [node.name])  # fmt: skip
        self.have.add((g.out, 0))

    def node(self, g: _Group) -> None:
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
        return self.plan


def plan_float_model(model) -> FloatPlan:
    """Plan `model` (a FloatModel or a Graph) on the NCHWc kernels (see the module docstring).

    Compiles every kernel and packs every constant weight now; `FloatPlan.run` only calls them.
    """
    return _Builder(_Model(model)).build()
