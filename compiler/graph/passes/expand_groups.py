"""expand_groups: a grouped conv whose channels per group are not whole blocks becomes the same
conv with fewer groups and block-diagonal weights (`compiler/graph/grouped.py`), which the
accelerator runs as int8 GEMMs; left alone it would stay a float conv on the CPU.

Rewritten only when the result fits the accelerator (pads, dilation, a kernel window within the
weight SRAM) and the zeros cost at most BLOCK times the grouped conv's MACs (the depthwise
mapping's worst case). The node keeps its name, so MAC reports count it on its float-graph twin
(the grouped conv: unpadded) and the zeros as padding.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.graph.accel_support import conv_geometry_support
from compiler.graph.grouped import expand_group_weights, merged_groups, needs_expansion
from compiler.graph.ir import Graph, NameGen, Node, TensorType
from hw_sim.config import HwConfig


def expansion_groups(node: Node, graph: Graph, cfg: HwConfig) -> int | str:
    """The group count to expand `node` to, else why it is left alone."""
    if node.op != "Conv" or len(node.inputs) < 2:
        return "not a conv"
    x_t, w_t = graph.types[node.inputs[0]], graph.types[node.inputs[1]]
    group = int(node.attr("group", 1))
    if x_t.rank != 4 or not needs_expansion(group, x_t.shape[1], w_t.shape[0], cfg.block):
        return "not a grouped 2-D conv with partial blocks per group"
    if node.inputs[1] not in graph.constants:
        return "weights are not constant"
    g2 = merged_groups(x_t.shape[1], w_t.shape[0], group, cfg.block)
    if group // g2 > cfg.block:
        return f"{group} groups merged into {g2}: more than BLOCK={cfg.block} times the MACs"
    if w_t.shape[2] * w_t.shape[3] > cfg.wgt_depth:
        return "kernel window beyond the weight SRAM"
    why = conv_geometry_support(node.with_attrs(group=g2), x_t.shape[1], w_t.shape[0], cfg)
    return why if why else g2


def expand_groups(graph: Graph, cfg: HwConfig) -> Graph:
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    nodes = []
    for node in graph.nodes:
        g2 = expansion_groups(node, graph, cfg)
        if isinstance(g2, str):
            nodes.append(node)
            continue
        w = expand_group_weights(graph.constants[node.inputs[1]], int(node.attr("group")), g2)
        wname = names(f"{node.name}_grouped{g2}_weights")
        constants[wname], types[wname] = w, TensorType.of(w)
        inputs = (node.inputs[0], wname, *node.inputs[2:])
        nodes.append(replace(node.with_attrs(group=g2), inputs=inputs))
    return graph.with_nodes(nodes, types=types, constants=constants)
