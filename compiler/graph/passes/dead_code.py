"""eliminate_dead_code: drop nodes none of whose outputs reach a graph output, and constants
nobody uses.

Why: folding, simplification and CSE leave orphans behind; removing them keeps the graph
(and the partition report) about what actually runs.
"""

from __future__ import annotations

from compiler.graph.ir import Graph


def eliminate_dead_code(graph: Graph) -> Graph:
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs if o):
            kept.append(node)
            live.update(i for i in node.inputs if i)
    return graph.with_nodes(reversed(kept))
