"""relu_before_concat: Relu(Concat(a, b, ...)) -> Concat(Relu(a), Relu(b), ...) (exact: Relu is
element-wise), when the Concat is read by the Relu only and some operand comes from a Conv that
nothing else reads.

Why: each Relu then folds into its producing conv's requantize clamp, and the concat's output
goes to its consumers as it is, so an accelerator operand stays packed and the concat becomes a
zero-copy view (`block_views`) instead of a CPU Concat + Relu between unpack and pack
(ShuffleNet's stride-2 units: conv branch ++ average-pool shortcut, then Relu).
"""

from __future__ import annotations

from compiler.graph.ir import Graph, NameGen, Node


def relu_before_concat(graph: Graph) -> Graph:
    names = NameGen(graph)
    producers, consumers = graph.producers(), graph.consumers()
    types = dict(graph.types)
    moved: dict[str, list[Node]] = {}  # concat name -> its new nodes
    drop: set[str] = set()
    for relu in graph.nodes:
        concat = producers.get(relu.inputs[0]) if relu.op == "Relu" else None
        if concat is None or concat.op != "Concat" or relu.inputs[0] in graph.outputs:
            continue
        if len(consumers.get(relu.inputs[0], [])) != 1:
            continue
        convs = [producers.get(v) for v in concat.inputs]
        if not any(
            p is not None and p.op == "Conv" and len(consumers.get(v, [])) == 1
            for v, p in zip(concat.inputs, convs, strict=True)
        ):
            continue
        relus, ins = [], []
        for v in concat.inputs:
            out = names(f"{v}_relu")
            types[out] = graph.types[v]
            relus.append(Node(names(f"{relu.name}_{v}"), "Relu", (v,), (out,)))
            ins.append(out)
        moved[concat.name] = [*relus, Node(concat.name, "Concat", tuple(ins), relu.outputs,
                                           dict(concat.attrs))]  # fmt: skip
        drop.add(relu.name)
    nodes: list[Node] = []
    for n in graph.nodes:
        if n.name not in drop:
            nodes += moved.get(n.name, [n])
    return graph.with_nodes(nodes, types=types)
