"""Fuse each accelerator boundary on the CPU into one kernel: a chain of element-wise CPU nodes
that contains int8 boundary work (`vtac.unpack` -> `vtac.dequantize` -> float activations such
as Sigmoid*Mul = SiLU, HardSwish, LeakyRelu, Add of two tensors -> `vtac.quantize` ->
`vtac.pack`, or any contiguous part of it) becomes one `vtac.fused_elementwise` node, its own
CPU launch, run by one LLVM kernel in one pass over memory (`compiler/cpu/fused_elementwise.py`)
instead of one launch and one intermediate tensor per node.

Runs on the final graph (after `fuse_ops`), before the driver turns groups into launches. A
chain grows from a seed node through consumers of its values while every value it produces,
but the last, is read only inside it (so the fused node has one output and the graph stays
acyclic), and is kept only if it holds at least one boundary op and two nodes, and is not a
bare quantize + pack (see NOT_ALONE). The fused node sits where the chain's last node was;
groups are renumbered in order.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compiler.cpu.fused_elementwise import FUSABLE, INT8_STEPS, FuseError, chain_types
from compiler.graph.ir import Graph, NameGen, Node
from compiler.graph.ref.fused import FUSED_OP

BOUNDARY_STEPS = INT8_STEPS
# Not worth one kernel: reading a plain (NCHW) tensor at a blocked output's index gathers
# across channels, which made a fused quantize + pack ~1.3-1.8x slower than the separate
# quantize and layout kernels (measured on the docs/model.md host); with any computation in
# the chain, or an unpack first, the fused pass wins or ties.
NOT_ALONE = ("vtac.quantize", "vtac.pack")


def _candidate(node: Node, graph: Graph) -> bool:
    if node.target == "accel" or node.op not in FUSABLE or len(node.outputs) != 1:
        return False
    if node.op == "Clip":  # bounds become immediates: they must be scalar constants
        return all(not v or (v in graph.constants and graph.constants[v].size == 1)
                   for v in node.inputs[1:])  # fmt: skip
    return True


def _steps(members: list[Node], graph: Graph):
    """(steps, fused inputs, consts, step types) of a chain; FuseError if it is not one."""
    produced = {n.outputs[0]: k for k, n in enumerate(members)}
    inputs: list[str] = []
    steps = []
    for n in members:
        refs = []
        for v in n.inputs:
            if not v:
                refs.append("")
            elif v in produced and produced[v] < len(steps):
                refs.append(f"s{produced[v]}")
            else:
                if v not in inputs:
                    inputs.append(v)
                refs.append(f"i{inputs.index(v)}")
        steps.append({"op": n.op, "inputs": tuple(refs), "attrs": dict(n.attrs)})
    in_types = [(tuple(graph.types[v].shape), graph.types[v].dtype) for v in inputs]
    consts = {k: float(np.asarray(graph.constants[v]).reshape(-1)[0])
              for k, v in enumerate(inputs)
              if v in graph.constants and graph.constants[v].size == 1}  # fmt: skip
    types, _ = chain_types(steps, in_types)
    return steps, inputs, consts, types


def _grow(seed: int, nodes: list[Node], graph: Graph, consumers, taken: set[int]):
    """The longest valid chain from `seed` (node indices), or None."""
    outputs = set(graph.outputs)
    members = [seed]
    best = None
    while True:
        member_set = set(members)
        open_values = [
            v for i in members for v in nodes[i].outputs
            if v in outputs or any(c not in member_set for c in consumers.get(v, ()))
        ]  # fmt: skip
        chain = [nodes[i] for i in members]
        if (len(members) >= 2 and open_values == [nodes[members[-1]].outputs[0]]
                and any(n.op in BOUNDARY_STEPS for n in chain)
                and tuple(n.op for n in chain) != NOT_ALONE):  # fmt: skip
            try:
                _steps(chain, graph)
            except FuseError:
                pass
            else:
                best = list(members)
        if nodes[members[-1]].op == "vtac.pack":
            break
        nxt = sorted({c for v in open_values for c in consumers.get(v, ())} - member_set - taken)
        nxt = [c for c in nxt if _candidate(nodes[c], graph) and nodes[c].op != "vtac.unpack"]
        if not nxt:
            break
        members.append(nxt[0])
    return best


def fuse_boundaries(graph: Graph) -> Graph:
    nodes = list(graph.nodes)
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for v in n.inputs:
            if v:
                consumers.setdefault(v, []).append(i)
    taken: set[int] = set()
    chains: list[list[int]] = []
    for i, n in enumerate(nodes):
        if i in taken or not _candidate(n, graph):
            continue
        chain = _grow(i, nodes, graph, consumers, taken)
        if chain:
            chains.append(chain)
            taken.update(chain)
    if not chains:
        return graph
    names = NameGen(graph)
    fused_at: dict[int, Node] = {}
    for chain in chains:
        members = [nodes[i] for i in chain]
        steps, inputs, consts, _ = _steps(members, graph)
        ops = "+".join(n.op.removeprefix("vtac.") for n in members)
        fused_at[max(chain)] = Node(
            names(f"{members[0].name}_fused"), FUSED_OP, tuple(inputs), members[-1].outputs,
            {"steps": tuple(steps), "consts": consts}, target="cpu",
            reason=f"accelerator boundary fused on the CPU: {ops}",
        )  # fmt: skip
    out: list[Node] = []
    group, prev = -1, None  # prev: (original group, was fused)
    for i, n in enumerate(nodes):
        if i in taken and i not in fused_at:
            continue
        node = fused_at.get(i, n)
        key = (n.group, i in fused_at)
        if i in fused_at or prev is None or prev[1] or key != prev:
            group += 1
        prev = key
        out.append(replace(node, group=group))
    return graph.with_nodes(out)


def is_boundary_node(node) -> bool:
    """Only boundary work (layout and int8 <-> float conversion), fused or not."""
    if node.op == FUSED_OP:
        return all(s["op"] in BOUNDARY_STEPS for s in node.attrs["steps"])
    return node.op in BOUNDARY_STEPS
