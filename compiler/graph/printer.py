"""The deterministic text form of a graph (grammar in `docs/graph.md`).

Same graph -> same text, byte for byte: attributes are sorted, floats printed with `repr`,
arrays summarized by type and a content hash (constants are listed by type only).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from compiler.graph.ir import Graph, Node, TensorType


def format_attr(value: Any) -> str:
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:8]
        if value.size <= 4:
            return f"{TensorType.of(value)}{value.ravel().tolist()}"
        return f"{TensorType.of(value)}#{digest}"
    if isinstance(value, tuple):
        return "[" + ",".join(format_attr(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bytes):
        return repr(value.decode("utf-8", "replace"))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_node(node: Node, graph: Graph) -> str:
    # An omitted optional output prints as "_", like an omitted input.
    outs = ", ".join(f"%{o}: {graph.types[o]}" if o else "_" for o in node.outputs)
    args = ", ".join(f"%{i}" if i else "_" for i in node.inputs)
    text = f"{outs} = {node.op}({args})"
    if node.attrs:
        text += " {" + ", ".join(f"{k}={format_attr(v)}" for k, v in node.attrs.items()) + "}"
    tags = [node.name]
    if node.group is not None:
        tags.append(f"group={node.group}")
    if node.target is not None:
        tags.append(f"target={node.target}")
    return text + "  # " + " ".join(tags)


def print_graph(graph: Graph, show_constants: bool = True) -> str:
    lines = [f"graph {graph.name} (opset {graph.opset}) {{"]
    for name in graph.inputs:
        lines.append(f"  input %{name}: {graph.types[name]}")
    if show_constants:
        for name in sorted(graph.constants):
            lines.append(f"  const %{name}: {TensorType.of(graph.constants[name])}")
    elif graph.constants:
        lines.append(f"  const ... ({len(graph.constants)} constants)")
    for node in graph.nodes:
        lines.append("  " + format_node(node, graph))
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n"
