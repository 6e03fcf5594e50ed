"""simplify_shapes: local rewrite rules on shape-only ops.

Rules (each `(ops, rule)`; a rule returns the value its node's output aliases, a replacement
node, or None to keep the node):
- `Identity`, inference `Dropout`: alias of the input;
- `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze` become one canonical `Reshape` to the static
  output shape, reading from the start of a chain of such ops; a reshape to the input's own
  shape disappears;
- `Transpose` with the identity permutation disappears; two transposes compose into one.
Outputs that are graph outputs are never aliased away. Run `eliminate_dead_code` after.

Why: exporters emit reshape/flatten/squeeze chains around dense layers and channel shuffles;
one reshape (a free view) is what the backends want to see.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node
from compiler.graph.passes.rewrite import resolve, substitute_uses, use_counts

RESHAPES = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}


def _identity(node: Node, env: dict):
    # Inference Dropout is the identity; its mask output must be unused.
    if any(o and env["uses"].get(o, 0) for o in node.outputs[1:]):
        return None
    return node.inputs[0]


def _reshape(node: Node, env: dict):
    graph: Graph = env["graph"]
    src = node.inputs[0]
    producer = env["producers"].get(src)
    while producer is not None and producer.op == "Reshape" and producer.attr("_canonical"):
        src = producer.inputs[0]
        producer = env["producers"].get(src)
    out_t = graph.types[node.outputs[0]]
    if graph.types[src].shape == out_t.shape:
        return src
    shape_name = env["names"](f"{node.outputs[0]}_shape")
    env["new_constants"][shape_name] = np.array(out_t.shape, dtype=np.int64)
    return Node(
        node.name,
        "Reshape",
        (src, shape_name),
        node.outputs,
        {"_canonical": 1},
        node.group,
        node.target,
        node.reason,
    )


def _transpose(node: Node, env: dict):
    graph: Graph = env["graph"]
    rank = graph.types[node.inputs[0]].rank
    perm = tuple(node.attr("perm", tuple(reversed(range(rank)))))
    producer = env["producers"].get(node.inputs[0])
    if producer is not None and producer.op == "Transpose":
        inner = tuple(producer.attr("perm", tuple(reversed(range(rank)))))
        perm = tuple(inner[p] for p in perm)
        node = Node(
            node.name,
            "Transpose",
            (producer.inputs[0],),
            node.outputs,
            {"perm": perm},
            node.group,
            node.target,
            node.reason,
        )
    if perm == tuple(range(rank)):
        return node.inputs[0]
    return node.with_attrs(perm=perm)


RULES = [
    ({"Identity", "Dropout"}, _identity),
    (RESHAPES, _reshape),
    ({"Transpose"}, _transpose),
]


def simplify_shapes(graph: Graph) -> Graph:
    env = {
        "graph": graph,
        "uses": use_counts(graph),
        "producers": {},
        "names": NameGen(graph),
        "new_constants": {},
    }
    alias: dict[str, str] = {}
    protected = set(graph.outputs)
    nodes = []
    for node in graph.nodes:
        node = substitute_uses([node], alias)[0]
        result = node
        for ops, rule in RULES:
            if node.op in ops:
                result = rule(node, env) or node
                break
        if isinstance(result, str):
            if node.outputs[0] in protected:
                result = node
            else:
                alias[node.outputs[0]] = resolve(alias, result)
                continue
        for o in result.outputs:
            env["producers"][o] = result
        nodes.append(result)
    # The marker only lives during this pass.
    nodes = [n.with_attrs(_canonical=None) if n.attr("_canonical") else n for n in nodes]
    constants = dict(graph.constants) | env["new_constants"]
    types = dict(graph.types)
    from compiler.graph.ir import TensorType

    types.update({k: TensorType.of(v) for k, v in env["new_constants"].items()})
    return graph.with_nodes(substitute_uses(nodes, alias), types=types, constants=constants)
