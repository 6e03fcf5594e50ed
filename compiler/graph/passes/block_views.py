"""block_views: channel Concat / Split between accelerator values become views of the blocked
layout, so that the linker can make them zero-copy.

In the blocked layout [N/bn, C/bc, H, W, bn, bc] the channel blocks are the outer-most axis after
the batch blocks, so for one batch block (N <= bn) a slice of whole channel blocks is one
contiguous byte range. After `pack_layout`, an int8 `Concat` (axis 1) whose inputs come out of
`vtac.unpack` (they were made packed on the accelerator; at least one does) or from CPU int8 nodes
(a `vtac.pack` writes them into their slice) and whose inputs have channel counts that are
multiples of the block becomes `vtac.concat {axis 1, packed 1}` of the packed values; a
`Split` (axis 1) of an unpacked accelerator value with block-multiple parts becomes
`vtac.split {axis 1, packed 1, sizes}` of the packed value. The unpack/pack pairs around them go
away (unpacked forms stay where a CPU node or a graph output still reads them).

Both nodes stay CPU nodes with a NumPy reference kernel (the definition, used by the bit-exact
check); `compiler/driver/views.py` places their operands as slices of one arena buffer and the
executor then skips them (no bytes move). A view the linker cannot honour (the same tensor in two
concats at different places, say) runs as a copy on the CPU, stated in the compile summary.
Other cases — channel counts that are not block multiples, batch blocks > 1 — keep the CPU
Concat / Split between unpack and pack (int8).
"""

from __future__ import annotations

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.dead_code import eliminate_dead_code
from compiler.graph.passes.pack_layout import packed_shape
from hw_sim.config import HwConfig

VIEW_REASON = "zero-copy view of the blocked layout (placed by the linker)"


def _unpack_node(value: str, packed: str, t: TensorType, names: NameGen) -> Node:
    return Node(names(f"{value}_unpack"), "vtac.unpack", (packed,), (value,),
                {"n": t.shape[0], "c": t.shape[1]}, target="cpu",
                reason="layout transform at an accelerator region boundary")  # fmt: skip


def _pack_node(value: str, packed: str, cfg: HwConfig, names: NameGen) -> Node:
    return Node(names(f"{value}_pack"), "vtac.pack", (value,), (packed,),
                {"bn": cfg.batch, "bc": cfg.block}, target="cpu",
                reason="layout transform at an accelerator region boundary")  # fmt: skip


def _packed_form(value: str, g: Graph, consumers, names: NameGen, types, cfg) -> tuple[str, list]:
    """(packed name, pack nodes to drop): the existing `vtac.pack` output or a fresh name."""
    packs = [c for c in consumers.get(value, []) if c.op == "vtac.pack"]
    if packs:
        return packs[0].outputs[0], packs[:1]
    t = g.types[value]
    p = names(f"{value}_packed")
    types[p] = TensorType(packed_shape(t.shape, cfg.batch, cfg.block), t.dtype)
    return p, []


def _axis1(node: Node, g: Graph) -> bool:
    t = g.types[node.inputs[0]]
    axis = int(node.attr("axis", 0))
    return t.rank == 4 and t.dtype == "int8" and axis % 4 == 1


def _rewrite_one(g: Graph, cfg: HwConfig) -> Graph | None:
    producers = {o: n for n in g.nodes for o in n.outputs if o}
    consumers = g.consumers()
    names = NameGen(g)
    types = dict(g.types)
    bn, bc = cfg.batch, cfg.block

    def needs_unpacked(v: str) -> bool:
        return v in g.outputs or any(c.op != "vtac.pack" for c in consumers.get(v, []))

    for node in g.nodes:
        if node.target == "accel" or node.op not in ("Concat", "Split") or not _axis1(node, g):
            continue
        if g.types[node.inputs[0]].shape[0] > bn:
            continue
        if node.op == "Concat":
            srcs = [producers.get(v) for v in node.inputs]
            from_accel = [s is not None and s.op == "vtac.unpack" for s in srcs]
            # An operand the CPU makes (an int8 average pool, say) is packed into its slice.
            if not any(from_accel) or any(s is None for s in srcs):
                continue
            if any(g.types[v].dtype != "int8" for v in node.inputs):
                continue
            if any(g.types[v].shape[1] % bc for v in node.inputs):
                continue
            y = node.outputs[0]
            yp, dropped = _packed_form(y, g, consumers, names, types, cfg)
            packs, parts = [], []
            for v, s, accel in zip(node.inputs, srcs, from_accel, strict=True):
                if accel:
                    parts.append(s.inputs[0])
                    continue
                vp, _ = _packed_form(v, g, consumers, names, types, cfg)
                if vp not in g.types:  # no pack of it yet
                    packs.append(_pack_node(v, vp, cfg, names))
                parts.append(vp)
            view = Node(node.name, "vtac.concat", tuple(parts), (yp,), {"axis": 1, "packed": 1},
                        target="cpu", reason=VIEW_REASON)  # fmt: skip
            new = [*packs, view]
            if needs_unpacked(y):
                new.append(_unpack_node(y, yp, g.types[y], names))
        else:
            src = producers.get(node.inputs[0])
            sizes = [g.types[o].shape[1] for o in node.outputs]
            if src is None or src.op != "vtac.unpack" or any(s % bc for s in sizes):
                continue
            outs, dropped, unpacks = [], [], []
            for o in node.outputs:
                op_, d = _packed_form(o, g, consumers, names, types, cfg)
                outs.append(op_)
                dropped += d
                if needs_unpacked(o):
                    unpacks.append(_unpack_node(o, op_, g.types[o], names))
            new = [Node(node.name, "vtac.split", (src.inputs[0],), tuple(outs),
                        {"axis": 1, "packed": 1, "sizes": tuple(sizes)}, target="cpu",
                        reason=VIEW_REASON), *unpacks]  # fmt: skip
        gone = {d.name for d in dropped}
        nodes = []
        for n in g.nodes:
            if n.name == node.name:
                nodes += new
            elif n.name not in gone:
                nodes.append(n)
        return eliminate_dead_code(g.with_nodes(nodes, types=types))
    return None


def block_views(graph: Graph, cfg: HwConfig) -> Graph:
    """Rewrite every eligible Concat / Split (see the module docstring), one at a time: a
    split's outputs may feed a concat that becomes eligible only after the split's rewrite."""
    while (rewritten := _rewrite_one(graph, cfg)) is not None:
        graph = rewritten
    return graph
