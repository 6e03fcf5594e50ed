"""eliminate_common_subexpressions: merge equal constants and nodes computing the same op on
the same inputs with the same attributes.

Why: exporters duplicate shape computations and constants (e.g. one `ConstantOfShape` per
layer with the same fill); merging them shrinks the graph and the DRAM image.
"""

from __future__ import annotations

import hashlib

import numpy as np

from compiler.graph.ir import Graph
from compiler.graph.passes.rewrite import substitute_uses
from compiler.graph.printer import format_attr


def _const_key(value: np.ndarray) -> tuple:
    if value.size > 1 and not any(value.strides):  # a broadcast splat (fold_constants): one
        return (value.dtype.name, value.shape, "splat", value.flat[0].tobytes())  # value
    digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
    return (value.dtype.name, value.shape, digest)


def eliminate_common_subexpressions(graph: Graph) -> Graph:
    alias: dict[str, str] = {}
    protected = set(graph.outputs) | set(graph.inputs)
    first_const: dict[tuple, str] = {}
    for name in sorted(graph.constants):
        key = _const_key(graph.constants[name])
        if key in first_const and name not in protected:
            alias[name] = first_const[key]
        else:
            first_const.setdefault(key, name)
    nodes = substitute_uses(list(graph.nodes), alias)
    seen: dict[tuple, tuple[str, ...]] = {}
    kept = []
    for node in nodes:
        node = substitute_uses([node], alias)[0]
        key = (
            node.op,
            node.inputs,
            tuple((k, format_attr(v)) for k, v in node.attrs.items()),
            len(node.outputs),
        )
        if node.op.startswith("Random") or key not in seen or set(node.outputs) & protected:
            seen.setdefault(key, node.outputs)
            kept.append(node)
            continue
        for mine, theirs in zip(node.outputs, seen[key], strict=True):
            if mine:
                alias[mine] = theirs
    return graph.with_nodes(substitute_uses(kept, alias))
