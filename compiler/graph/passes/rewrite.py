"""Helpers shared by the passes: value substitution and node replacement."""

from __future__ import annotations

from collections.abc import Mapping

from compiler.graph.ir import Graph, Node


def resolve(alias: Mapping[str, str], name: str) -> str:
    seen = 0
    while name in alias:
        name = alias[name]
        seen += 1
        if seen > 10_000:
            raise RuntimeError("alias cycle")
    return name


def substitute_uses(nodes: list[Node], alias: Mapping[str, str]) -> list[Node]:
    """Replace every use of an aliased value by what it aliases (graph outputs are untouched:
    passes never alias a value that is a graph output)."""
    if not alias:
        return list(nodes)
    out = []
    for n in nodes:
        ins = tuple(resolve(alias, i) if i else i for i in n.inputs)
        out.append(
            n
            if ins == n.inputs
            else Node(n.name, n.op, ins, n.outputs, n.attrs, n.group, n.target, n.reason)
        )
    return out


def use_counts(graph: Graph) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if i:
                counts[i] = counts.get(i, 0) + 1
    for o in graph.outputs:
        counts[o] = counts.get(o, 0) + 1
    return counts
