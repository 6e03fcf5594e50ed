"""fold_channel_shuffle: ShuffleNet's channel shuffle folded into the conv that produces it.

    y = Reshape(Transpose(Reshape(x, [N, g, C/g, H, W]), perm=[0, 2, 1, 3, 4]), [N, C, H, W])

is a channel permutation, y[:, j] = x[:, src[j]] with src[j] = (j % g) * (C/g) + j // g. When x
comes from a conv through per-channel-agnostic element-wise ops (Relu, Clip with scalar bounds)
that nobody else reads, permuting the conv's output rows (weights and bias) gives y directly: no
Reshape/Transpose on the CPU, no accelerator/CPU crossing. A grouped producer becomes dense
first (its groups interleave after the permutation): zeros on the GEMM unit, allowed up to BLOCK
times the grouped MACs as in `expand_groups`. Other shuffles stay (int8 Reshape/Transpose on
the CPU). The conv keeps its node name, so MAC reports count it on its float-graph twin.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compiler.graph.accel_support import conv_geometry_support
from compiler.graph.grouped import expand_group_weights
from compiler.graph.ir import Graph, NameGen, Node, TensorType
from hw_sim.config import HwConfig

SHUFFLE_PERM = (0, 2, 1, 3, 4)


def shuffle_source(node: Node, graph: Graph, producers, consumers) -> tuple[list[Node], int] | None:
    """For the Transpose of a channel shuffle: ([first Reshape, Transpose, last Reshape], g)."""
    if node.op != "Transpose" or tuple(node.attr("perm", ())) != SHUFFLE_PERM:
        return None
    first, users = producers.get(node.inputs[0]), consumers.get(node.outputs[0], [])
    if first is None or first.op != "Reshape" or len(users) != 1 or users[0].op != "Reshape":
        return None
    last = users[0]
    x_t, mid_t, y_t = (graph.types[v] for v in (first.inputs[0], node.inputs[0], last.outputs[0]))
    if x_t.rank != 4 or y_t.shape != x_t.shape or mid_t.rank != 5:
        return None
    n, c, h, w = x_t.shape
    g = mid_t.shape[1]
    if mid_t.shape != (n, g, c // g, h, w) or g * (c // g) != c:
        return None
    if len(consumers.get(first.outputs[0], [])) != 1:
        return None
    return [first, node, last], g


def elementwise_chain(x: str, graph: Graph, producers, consumers) -> list[Node] | None:
    """[conv, elementwise ops...] producing `x`, each value read only by the next, else None."""
    chain: list[Node] = []
    value = x
    while True:
        node = producers.get(value)
        if node is None or value in graph.outputs or len(consumers.get(value, [])) != 1:
            return None
        chain.insert(0, node)
        if node.op == "Conv":
            return chain
        if node.op == "Clip":
            bounds = [i for i in node.inputs[1:] if i]
            if any(b not in graph.constants or graph.constants[b].size != 1 for b in bounds):
                return None
        elif node.op != "Relu":
            return None
        value = node.inputs[0]


def permuted_conv(conv: Node, graph: Graph, src: np.ndarray, cfg: HwConfig):
    """(weights, bias or None) of `conv` with output rows permuted by `src`, else None."""
    if any(i and i not in graph.constants for i in conv.inputs[1:]):
        return None
    w = graph.constants[conv.inputs[1]]
    x_t = graph.types[conv.inputs[0]]
    group = int(conv.attr("group", 1))
    if x_t.rank != 4 or group > cfg.block or (group > 1 and x_t.shape[1] == group):
        return None  # depthwise / many groups: the dense form would waste too much
    if conv_geometry_support(conv.with_attrs(group=None), x_t.shape[1], w.shape[0], cfg):
        return None
    if group > 1:
        w = expand_group_weights(w, group, 1)
    bias = graph.constants[conv.inputs[2]][src] if len(conv.inputs) > 2 and conv.inputs[2] else None
    return w[src], bias


def fold_channel_shuffle(graph: Graph, cfg: HwConfig) -> Graph:
    names = NameGen(graph)
    producers, consumers = graph.producers(), graph.consumers()
    constants, types = dict(graph.constants), dict(graph.types)
    drop: set[str] = set()
    rewritten: dict[str, Node] = {}
    for node in graph.nodes:
        found = shuffle_source(node, graph, producers, consumers)
        if found is None:
            continue
        shuffle, g = found
        x, y = shuffle[0].inputs[0], shuffle[-1].outputs[0]
        chain = elementwise_chain(x, graph, producers, consumers)
        if chain is None or any(n.name in rewritten for n in chain):
            continue
        c = graph.types[x].shape[1]
        j = np.arange(c)
        src = (j % g) * (c // g) + j // g
        folded = permuted_conv(chain[0], graph, src, cfg)
        if folded is None:
            continue
        w, bias = folded
        conv = chain[0]
        wname = names(f"{conv.name}_shuffled_weights")
        constants[wname], types[wname] = w, TensorType.of(w)
        inputs = [conv.inputs[0], wname]
        if bias is not None:
            inputs.append(names(f"{conv.name}_shuffled_bias"))
            constants[inputs[-1]], types[inputs[-1]] = bias, TensorType.of(bias)
        # fresh names for the permuted intermediates; the last op produces y itself
        outs = [names(f"{n.outputs[0]}_shuffled") for n in chain[:-1]] + [y]
        for o in outs[:-1]:
            types[o] = graph.types[x]
        for i, n in enumerate(chain):
            ins = tuple(inputs) if i == 0 else (outs[i - 1], *n.inputs[1:])
            new = replace(n, inputs=ins, outputs=(outs[i],))
            rewritten[n.name] = new.with_attrs(group=None) if i == 0 else new
        drop.update(n.name for n in shuffle)
    nodes = [rewritten.get(n.name, n) for n in graph.nodes if n.name not in drop]
    return graph.with_nodes(nodes, types=types, constants=constants)
