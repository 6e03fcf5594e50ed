"""fuse_ops: group nodes into fused kernels, as TVM's graph-level FuseOps does.

Op patterns: *anchors* (Conv, Gemm, MatMul, vtac.conv2d, vtac.dense: out-element-wise
fusable) take the element-wise ops that follow them into their epilogue; chains of
element-wise ops fuse among themselves; reductions, pooling, data movement and everything
else (*opaque*) stay one node per group and end a chain. A node joins the group of the
producer of one of its inputs when: it is element-wise; that producer is the node just
before it (groups stay contiguous in node order); the producer's output has no other
use (an intermediate escaping the group would have to be written out anyway); the
producer's group has not ended; both have the same partition target. Other inputs may
come from anywhere (a residual add reads a tensor produced elsewhere, a bias is a constant).

The result is recorded in the IR: every node gets `group` (0, 1, ... in order); the
backends compile one kernel per group.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.graph.ir import Graph
from compiler.graph.passes.rewrite import use_counts

# vtac.mul starts its own ALU group (its requantize joins it)
ANCHORS = {"Conv", "Gemm", "MatMul", "vtac.conv2d", "vtac.dense", "vtac.mul"}
ELEMENTWISE = {
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Exp",
    "Neg",
    "Abs",
    "Sqrt",
    "Pow",
    "Erf",
    "PRelu",
    "Elu",
    "Softplus",
    "Cast",
    "vtac.add",
    "vtac.max",
    "vtac.hardswish",  # joins a conv's epilogue (the ALU's MUL)
    "vtac.requantize",
    "vtac.quantize",
    "vtac.dequantize",
}


def op_pattern(op: str) -> str:
    if op in ANCHORS:
        return "anchor"
    if op in ELEMENTWISE:
        return "elementwise"
    return "opaque"


def schedule_for_fusion(graph: Graph) -> Graph:
    """Reorder nodes (a valid topological order, otherwise as close to the original as
    possible) so that a single-use element-wise consumer comes right after its producer.

    Exporters interleave branches (a residual's shortcut conv between a conv and its add);
    fusion groups must be contiguous, so this list scheduler emits, after each node, a ready
    element-wise consumer of its output when there is one, else the earliest ready node.
    """
    import heapq

    uses = use_counts(graph)
    producer_index = {o: i for i, n in enumerate(graph.nodes) for o in n.outputs if o}
    deps: list[set[int]] = []
    users: dict[int, list[int]] = {}
    for i, n in enumerate(graph.nodes):
        d = {producer_index[v] for v in n.inputs if v in producer_index}
        deps.append(d)
        for j in d:
            users.setdefault(j, []).append(i)
    waiting = [len(d) for d in deps]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    preferred: int | None = None
    while ready:
        if preferred is not None and preferred in ready:
            ready.remove(preferred)
            heapq.heapify(ready)
            i = preferred
        else:
            i = heapq.heappop(ready)
        order.append(i)
        preferred = None
        for j in users.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
        for j in sorted(users.get(i, [])):
            node = graph.nodes[j]
            single = any(v in graph.nodes[i].outputs and uses.get(v, 0) == 1 for v in node.inputs)
            if waiting[j] == 0 and op_pattern(node.op) == "elementwise" and single:
                preferred = j
                break
    return graph.with_nodes([graph.nodes[i] for i in order])


def fuse_ops(graph: Graph) -> Graph:
    graph = schedule_for_fusion(graph)
    uses = use_counts(graph)
    nodes = []
    group = -1
    open_group = False  # whether the current group still accepts an epilogue
    prev = None
    for node in graph.nodes:
        pattern = op_pattern(node.op)
        joins = (
            pattern == "elementwise"
            and prev is not None
            and open_group
            and any(i in prev.outputs and uses.get(i, 0) == 1 for i in node.inputs if i)
            and prev.target == node.target
        )
        if not joins:
            group += 1
            open_group = pattern in ("anchor", "elementwise")
        node = replace(node, group=group)
        nodes.append(node)
        prev = node
    return graph.with_nodes(nodes)


def group_table(graph: Graph) -> list[tuple[int, list[str]]]:
    """(group id, [node names]) in order."""
    table: dict[int, list[str]] = {}
    for n in graph.nodes:
        if n.group is not None:
            table.setdefault(n.group, []).append(n.name)
    return sorted(table.items())
