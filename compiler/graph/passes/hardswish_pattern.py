"""hardswish_pattern: `x * Clip(x + 3, 0, 6) / 6` -> `HardSwish(x)` (float graph).

Exporters (PaddlePaddle's, for PP-OCR) write HardSwish as four nodes. As one node it can run
as one integer formula on the accelerator when the ALU has MUL (`int8_mul.py`), so the
pipeline runs this pass only for such configs (`HwConfig.ALU_MUL`); without MUL the graph is
left as it is. Matched: Add(x, 3) -> Clip(0, 6) -> Mul(x, .) -> Div(., 6) or Mul(., 1/6),
operands of Add/Mul in either order, every intermediate used once; the result keeps the
Div's output name (its calibration range is HardSwish's).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, Node
from compiler.graph.passes.rewrite import use_counts


def _scalar(graph: Graph, value: str) -> float | None:
    c = graph.constants.get(value)
    return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None


def _other(node: Node, value: str) -> str | None:
    """The input of a two-input node that is not `value` (None if neither is)."""
    a, b = node.inputs[:2]
    return b if a == value else a if b == value else None


def _clip_bounds(graph: Graph, node: Node) -> tuple[float | None, float | None]:
    if graph.opset < 11:
        return node.attr("min"), node.attr("max")
    ins = list(node.inputs[1:3]) + [""] * (3 - len(node.inputs))
    return tuple(_scalar(graph, v) if v else None for v in ins[:2])  # type: ignore[return-value]


def _match(graph: Graph, out: Node, producer: dict, uses: dict) -> tuple[str, list[Node]] | None:
    """(x, the four nodes) if `out` (a Div or Mul) ends the HardSwish pattern."""
    if out.op == "Div":
        if not np.isclose(_scalar(graph, out.inputs[1]) or 0.0, 6.0):
            return None
        prod = out.inputs[0]
    elif out.op == "Mul":
        scale = [v for v in out.inputs if np.isclose(_scalar(graph, v) or 0.0, 1 / 6)]
        if not scale:
            return None
        prod = _other(out, scale[0])
    else:
        return None
    mul = producer.get(prod)
    if mul is None or mul.op != "Mul" or uses.get(prod, 0) != 1:
        return None
    for gate in mul.inputs:
        clip = producer.get(gate)
        x = _other(mul, gate)
        if clip is None or clip.op != "Clip" or uses.get(gate, 0) != 1 or x is None:
            continue
        lo, hi = _clip_bounds(graph, clip)
        add = producer.get(clip.inputs[0])
        if lo is None or hi is None or not (np.isclose(lo, 0) and np.isclose(hi, 6)):
            continue
        if add is None or add.op != "Add" or uses.get(clip.inputs[0], 0) != 1:
            continue
        three = _other(add, x)
        if three is not None and np.isclose(_scalar(graph, three) or 0.0, 3.0):
            return x, [add, clip, mul, out]
    return None


def fuse_hardswish_pattern(graph: Graph) -> Graph:
    uses = use_counts(graph)
    producer = graph.producers()
    drop: set[str] = set()
    replace: dict[str, Node] = {}
    for node in graph.nodes:
        found = _match(graph, node, producer, uses)
        if found is None or graph.types[found[0]].dtype != "float32":
            continue
        x, nodes = found
        drop.update(n.name for n in nodes[:-1])
        replace[node.name] = Node(f"{node.name}_hardswish", "HardSwish", (x,), node.outputs)
    if not replace:
        return graph
    nodes = [replace.get(n.name, n) for n in graph.nodes if n.name not in drop]
    return graph.with_nodes(nodes)
