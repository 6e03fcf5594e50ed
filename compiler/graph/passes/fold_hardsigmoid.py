"""fold_hardsigmoid: `HardSigmoid(Conv(x, W, b))` -> `Clip(Conv(x, a*W, a*b + beta), 0, 1)`.

HardSigmoid is `clip(a*v + beta, 0, 1)`: a line then a clamp. After a convolution the line
folds into the convolution's weights and bias (exact in real arithmetic; float rounding of
a*W aside), leaving a Clip, which quantization already folds into the requantize bounds. So the
conv + HardSigmoid chain runs on the accelerator with no extra ALU work and no error beyond
the usual int8 quantization (per-op figures: docs/compiler.md, "Activations").

Only a Conv with constant weights (and bias) whose output has no other use is folded (its
output value keeps its name but now holds the scaled pre-activation).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.rewrite import use_counts


def fold_hardsigmoid(graph: Graph) -> Graph:
    uses = use_counts(graph)
    producer = {o: n for n in graph.nodes for o in n.outputs if o}
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    replaced: dict[str, Node] = {}  # conv name -> scaled conv
    clips: dict[str, Node] = {}  # hardsigmoid name -> clip
    for node in graph.nodes:
        if node.op != "HardSigmoid":
            continue
        conv = producer.get(node.inputs[0])
        if (
            conv is None
            or conv.op != "Conv"
            or uses.get(node.inputs[0], 0) != 1
            or conv.inputs[1] not in constants
            or (len(conv.inputs) > 2 and conv.inputs[2] and conv.inputs[2] not in constants)
        ):
            continue
        alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
        w = constants[conv.inputs[1]]
        cout = w.shape[0]
        has_b = len(conv.inputs) > 2 and conv.inputs[2]
        b = constants[conv.inputs[2]].astype(np.float64) if has_b else np.zeros(cout)
        wn, bn = names(f"{conv.name}_hsig_w"), names(f"{conv.name}_hsig_b")
        constants[wn] = (w.astype(np.float64) * alpha).astype(w.dtype)
        constants[bn] = (b * alpha + beta).astype(w.dtype)
        for v in (wn, bn):
            types[v] = TensorType.of(constants[v])
        replaced[conv.name] = Node(conv.name, "Conv", (conv.inputs[0], wn, bn), conv.outputs,
                                   conv.attrs)  # fmt: skip
        if graph.opset >= 11:
            lo, hi = names(f"{node.name}_lo"), names(f"{node.name}_hi")
            constants[lo], constants[hi] = np.array(0.0, np.float32), np.array(1.0, np.float32)
            for v in (lo, hi):
                types[v] = TensorType.of(constants[v])
            clips[node.name] = Node(node.name, "Clip", (node.inputs[0], lo, hi), node.outputs)
        else:
            clips[node.name] = Node(node.name, "Clip", node.inputs[:1], node.outputs,
                                    {"min": 0.0, "max": 1.0})  # fmt: skip
    if not replaced:
        return graph
    nodes = [replaced.get(n.name) or clips.get(n.name) or n for n in graph.nodes]
    return graph.with_nodes(nodes, types=types, constants=constants)
