"""fold_affine_into_conv: `Conv -> Mul(s) -> Add(t)` with constant s, t per output channel (or
scalars) -> one Conv with weights W * s and bias b * s + t (float graph).

PP-OCR-det (PP-LCNetV3's learnable affine blocks) puts a scalar `Mul` + `Add` after its convs;
left alone they run in float on the CPU between a conv and its HardSwish, so neither the
HardSwish nor the boundary can move to the accelerator. Exact in real arithmetic (float
rounding of W * s aside). Applies when the conv's weights and bias are constants and each
intermediate value has one reader; repeated until no chain is left. The pipeline runs it with
the ALU's MUL (`HwConfig.ALU_MUL`) only, so that the default configs' partitions stay as they
were; it does not need MUL.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.rewrite import use_counts


def _channel_vector(c: np.ndarray, channels: int) -> np.ndarray | None:
    """`c` as a per-output-channel vector if it broadcasts so over an NCHW conv output."""
    if c.size == 1:
        return np.full(channels, float(c.reshape(-1)[0]))
    shape = tuple(c.shape)
    if c.size == channels and shape in ((channels, 1, 1), (1, channels, 1, 1)):
        return c.reshape(-1).astype(np.float64)
    return None


def _fold_one(graph: Graph) -> Graph | None:
    producers, uses = graph.producers(), use_counts(graph)
    for node in graph.nodes:
        if node.op not in ("Mul", "Add") or len(node.inputs) != 2:
            continue
        for x, c in (node.inputs, node.inputs[::-1]):
            conv = producers.get(x)
            if conv is None or conv.op != "Conv" or c not in graph.constants or uses.get(x) != 1:
                continue
            if x in graph.outputs or conv.inputs[1] not in graph.constants:
                continue
            has_b = len(conv.inputs) > 2 and conv.inputs[2]
            if has_b and conv.inputs[2] not in graph.constants:
                continue
            w = graph.constants[conv.inputs[1]]
            v = _channel_vector(graph.constants[c], w.shape[0])
            if v is None:
                continue
            b = graph.constants[conv.inputs[2]].astype(np.float64) if has_b else np.zeros(len(v))
            w64 = w.astype(np.float64)
            if node.op == "Mul":
                w64, b = w64 * v.reshape((-1,) + (1,) * (w.ndim - 1)), b * v
            else:
                b = b + v
            names = NameGen(graph)
            constants, types = dict(graph.constants), dict(graph.types)
            nw, nb = names(f"{conv.inputs[1]}_affine"), names(f"{conv.name}_bias_affine")
            constants[nw], constants[nb] = w64.astype(w.dtype), b.astype(w.dtype)
            types[nw], types[nb] = TensorType.of(constants[nw]), TensorType.of(constants[nb])
            folded = Node(conv.name, "Conv", (conv.inputs[0], nw, nb), node.outputs, conv.attrs)
            nodes = [folded if n is conv else n for n in graph.nodes if n is not node]
            return graph.with_nodes(nodes, types=types, constants=constants)
    return None


def fold_affine_into_conv(graph: Graph) -> Graph:
    while True:
        folded = _fold_one(graph)
        if folded is None:
            return graph
        graph = folded
