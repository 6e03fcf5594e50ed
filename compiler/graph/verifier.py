"""The graph verifier: structural rules plus a re-inference of every type.

Rules: names of nodes are unique; every value is defined once (input, constant or one node
output) before it is used; graph outputs are defined; every value has a type; constants
match their types; recorded types equal what shape inference derives; every op has a
reference kernel; targets are "accel"/"cpu"; a fusion group is contiguous in node order and
has one target. Returns nothing; raises `GraphError` listing every violation.
"""

from __future__ import annotations

from compiler.graph.ir import TARGETS, Graph, GraphError, TensorType
from compiler.graph.ref import KERNELS
from compiler.graph.shape_infer import infer_node


def verify(graph: Graph, check_types: bool = True) -> None:
    errors: list[str] = []
    defined: set[str] = set()
    for name in graph.inputs:
        if name in defined:
            errors.append(f"input {name!r} declared twice")
        defined.add(name)
        if name not in graph.types:
            errors.append(f"input {name!r} has no type")
    for name, value in graph.constants.items():
        if name in defined:
            errors.append(f"constant {name!r} is also a graph input")
        defined.add(name)
        if graph.types.get(name) != TensorType.of(value):
            errors.append(f"constant {name!r}: recorded type {graph.types.get(name)} != value")
    node_names: set[str] = set()
    known = dict(graph.constants)
    groups_seen: dict[int, tuple[int, str | None]] = {}
    closed_groups: set[int] = set()
    prev_group = None
    for index, node in enumerate(graph.nodes):
        where = f"node {node.name!r} ({node.op})"
        if node.name in node_names:
            errors.append(f"{where}: duplicate node name")
        node_names.add(node.name)
        if node.op not in KERNELS:
            errors.append(f"{where}: unknown op")
        for i in node.inputs:
            if i and i not in defined:
                errors.append(f"{where}: input {i!r} is not defined before use")
        for o in node.outputs:
            if not o:
                continue
            if o in defined:
                errors.append(f"{where}: output {o!r} is defined more than once")
            defined.add(o)
            if o not in graph.types:
                errors.append(f"{where}: output {o!r} has no type")
        if node.target is not None and node.target not in TARGETS:
            errors.append(f"{where}: target {node.target!r} is not one of {TARGETS}")
        if node.group is not None:
            if node.group in closed_groups:
                errors.append(f"{where}: fusion group {node.group} is not contiguous")
            first = groups_seen.setdefault(node.group, (index, node.target))
            if first[1] != node.target:
                errors.append(f"{where}: fusion group {node.group} mixes targets")
        if prev_group is not None and prev_group != node.group:
            closed_groups.add(prev_group)
        prev_group = node.group
        if check_types and not errors:
            try:
                in_types = [graph.types[i] if i else None for i in node.inputs]
                out_types, values = infer_node(node, in_types, known, graph.opset)
            except (GraphError, ValueError) as e:
                errors.append(f"{where}: {e}")
                continue
            for o, t, v in zip(node.outputs, out_types, values, strict=False):
                if o and graph.types.get(o) != t:
                    errors.append(
                        f"{where}: output {o!r} recorded as {graph.types.get(o)}, infers {t}"
                    )
                if o and v is not None:
                    known[o] = v
    for o in graph.outputs:
        if o not in defined:
            errors.append(f"graph output {o!r} is not defined")
    if errors:
        raise GraphError(f"graph {graph.name!r} failed verification:\n  " + "\n  ".join(errors))
