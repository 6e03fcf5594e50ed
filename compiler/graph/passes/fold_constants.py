"""fold_constants: evaluate every node whose inputs are all constants, and `Shape`/`Size` of
statically shaped values, replacing them by constants.

Why: ONNX exporters compute shapes at run time (`Shape -> Gather -> Concat -> Reshape`) and
older models build weights with `ConstantOfShape`; after folding, later passes see plain
constants. Values larger than `max_elements` are left alone to bound memory, except a
`ConstantOfShape` of a constant shape: it folds at any size into a read-only broadcast view of
its one fill value (O(1) memory), so a generated weight such as ZFNet-512's 75 M-element fc6
becomes a constant that quantization can put on the accelerator.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.executor import run_node
from compiler.graph.ir import Graph, Node, TensorType

# Ops never folded: their results are not functions of their inputs alone.
NOT_FOLDABLE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike"}


def splat(node: Node, shape: np.ndarray) -> np.ndarray:
    """ConstantOfShape's output as a read-only broadcast of its fill value (no copy)."""
    fill = node.attr("value", None)
    fill = np.zeros(1, np.float32) if fill is None else np.asarray(fill).reshape(-1)
    return np.broadcast_to(fill[0], tuple(int(d) for d in np.atleast_1d(shape)))


def fold_constants(graph: Graph, max_elements: int = 1 << 26) -> Graph:
    constants = dict(graph.constants)
    types = dict(graph.types)
    nodes = []
    for node in graph.nodes:
        if node.op in ("Shape", "Size") and node.inputs[0] not in constants:
            t = graph.types[node.inputs[0]]
            dims = np.array(t.shape, dtype=np.int64)
            if node.op == "Shape":
                value = dims[node.attr("start", 0) : node.attr("end", None)]
            else:
                value = np.array(t.size, dtype=np.int64)
            constants[node.outputs[0]] = value
            continue
        big_splat = (
            node.op == "ConstantOfShape"
            and node.inputs[0] in constants
            and types[node.outputs[0]].size > max_elements
            and node.outputs[0] not in graph.outputs
        )
        if big_splat:
            constants[node.outputs[0]] = splat(node, constants[node.inputs[0]])
            continue
        foldable = (
            node.op not in NOT_FOLDABLE
            and all((not i) or i in constants for i in node.inputs)
            and all(types[o].size <= max_elements for o in node.outputs if o)
            and not (set(node.outputs) & set(graph.outputs))
        )
        if not foldable:
            nodes.append(node)
            continue
        values = run_node(node, [constants[i] if i else None for i in node.inputs], graph.opset)
        for name, value in zip(node.outputs, values, strict=False):
            if name:
                value = np.array(order="C", object=value)
                assert TensorType.of(value) == types[name], (node.name, name)
                constants[name] = value
    return graph.with_nodes(nodes, types=types, constants=constants)
