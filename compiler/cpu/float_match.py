"""Step 1 of the float plan (`float_plan.py`): which nodes run as one NCHWc kernel.

In node order: a Conv the NCHWc kernel takes (2-d, float32, constant weights, groups 1,
dilation 1, symmetric pads, output shape as typed) with its single-use epilogue — bias, then
an optional residual `Add` of another float32 value of the same shape (either operand order;
the first conv to reach an Add takes it), then an optional `Relu`; MaxPool (square window,
equal pads, floor mode, one output) and GlobalAveragePool whose input an NCHWc step produces —
MaxPool reads its padding from the zero border, so only on inputs known >= 0 (a fused Relu,
or a max pool of such) or without padding; Gemm with a constant B (alpha = beta = 1, no
transA, a constant 1-d bias) as a dense kernel; Flatten and Reshape to a constant shape as
a view of their input (no copy). Every other node is a group of kind "node".
A group runs where its last node stood, so every value it reads is already computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.cpu.conv2d import Conv2dShape, default_knobs
from compiler.graph.ref import KernelCtx
from compiler.graph.ref.nn import conv_pads
from compiler.llvm import vector_lanes, vector_registers

F32 = "float32"


@dataclass
class Group:
    kind: str  # conv, maxpool, gap, dense, node
    nodes: list  # NodeSpecs, in graph order (the step runs where the last one stood)
    x: str  # data input
    out: str  # the value the group produces
    p: dict = field(default_factory=dict)  # kind-specific parameters


class ModelView:
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


def _match_conv(i: int, node, m: ModelView, claimed: set[int]) -> Group | None:
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
    g = Group("conv", [node], x, y, {"shape": shape, "w": w, "b": b, "res": None, "relu": False})
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


def _match_pool(node, m: ModelView, blocks: dict, nonneg: set) -> Group | None:
    x = node.inputs[0] if node.inputs else ""
    if x not in blocks or not m.is_f32(x, 4) or any(node.outputs[1:]):
        return None
    if node.op == "GlobalAveragePool":
        return Group("gap", [node], x, node.outputs[0])
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
    return Group("maxpool", [node], x, node.outputs[0], {"k": k, "s": s, "pad": pad})


def _match_dense(node, m: ModelView) -> Group | None:
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
    return Group("dense", [node], a, node.outputs[0], {"w": np.ascontiguousarray(wt), "b": c})


def match_groups(m: ModelView) -> tuple[list[Group], dict[str, int]]:
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
        elif node.op == "Flatten" or (node.op == "Reshape" and node.inputs[1] in m.constants):
            g = Group("view", [node], node.inputs[0], node.outputs[0])  # shapes are typed
        g = g or Group("node", [node], "", "")
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
