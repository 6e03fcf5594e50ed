"""Squeeze-and-excite convs: the default policy keeps them in float on the CPU.

A squeeze-excite (SE) block computes a per-channel gate from a global average pool: two 1x1
convs on a 1x1 spatial value, an activation, and a `Mul` of the gate with the block's feature
map. Rule: a `Conv` whose input is 1x1 in space and whose output reaches, through single-input
activations / affine steps with constants / further such convs, a `Mul` with a value larger in
space, is an SE conv.

Why float: their MACs are C_in * C_out per image (0.34 % of PP-OCR-cls's conv MACs, 0.04 % of
PP-OCR-det's), while int8 puts a per-tensor grid on a gate that multiplies whole channels, an
error that is correlated over the whole feature map rather than averaged away. Measured
(docs/quantization.md): PP-OCR-cls 40.5 % -> 37.1 % worst-output error with only this change,
PP-OCR-det 70.2 % -> 68.0 %. A classifier after a global pool does not end in a `Mul` and is
not matched.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, Node

# steps allowed between an SE conv and the gating Mul (besides further SE convs)
GATE_STEPS = {"Relu", "Clip", "HardSigmoid", "Sigmoid", "HardSwish", "Add", "Mul", "Div", "Sub"}


def _spatial(graph: Graph, value: str) -> int | None:
    shape = graph.types[value].shape
    return int(np.prod(shape[2:])) if len(shape) == 4 else None


def squeeze_excite_convs(graph: Graph) -> dict[str, int]:
    """SE conv name -> its MACs per inference."""
    consumers = graph.consumers()
    found: dict[str, int] = {}
    for node in graph.nodes:
        if node.op != "Conv" or _spatial(graph, node.inputs[0]) != 1:
            continue
        if _reaches_gate(node, graph, consumers):
            w = graph.constants.get(node.inputs[1])
            found[node.name] = int(w.size) if w is not None else 0
    return found


def _reaches_gate(conv: Node, graph: Graph, consumers) -> bool:
    frontier, seen = [conv.outputs[0]], set()
    while frontier:
        v = frontier.pop()
        if v in seen or v in graph.outputs:
            continue
        seen.add(v)
        for user in consumers.get(v, []):
            others = [i for i in user.inputs if i and i != v]
            if user.op == "Mul" and any(
                i not in graph.constants and (_spatial(graph, i) or 0) > 1 for i in others
            ):
                return True
            elementwise = user.op in GATE_STEPS and all(i in graph.constants for i in others)
            if elementwise or (user.op == "Conv" and _spatial(graph, user.inputs[0]) == 1):
                frontier.append(user.outputs[0])
    return False
