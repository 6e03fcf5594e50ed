"""GraphBuilder: write graphs in Python (tests, examples) with types inferred as you go.

b = GraphBuilder("net")
x = b.input("x", (1, 3, 8, 8))
y = b.op("Conv", [x, b.const("w", w)], pads=(1, 1, 1, 1), name="conv")
b.output(b.op("Relu", [y]))
graph = b.build()
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.shape_infer import infer_node
from compiler.graph.verifier import verify


class GraphBuilder:
    def __init__(self, name: str = "g", opset: int = 17) -> None:
        self.name = name
        self.opset = opset
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.names = NameGen()
        self.known: dict[str, np.ndarray] = {}  # constants and small computed values

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> str:
        self.names.taken.add(name)
        self.inputs.append(name)
        self.types[name] = TensorType(tuple(shape), dtype)
        return name

    def const(self, name: str, value) -> str:
        name = self.names(name)
        value = np.array(order="C", object=value)
        self.constants[name] = value
        self.known[name] = value
        self.types[name] = TensorType.of(value)
        return name

    def op(
        self,
        op: str,
        inputs: Sequence[str],
        name: str | None = None,
        out: str | None = None,
        num_outputs: int = 1,
        **attrs,
    ) -> str | tuple[str, ...]:
        node_name = self.names(name or op.lower().replace(".", "_"))
        outs = (
            (self.names(out),)
            if out and num_outputs == 1
            else tuple(
                self.names(f"{node_name}_out{i}" if num_outputs > 1 else f"{node_name}_out")
                for i in range(num_outputs)
            )
        )
        node = Node(node_name, op, tuple(inputs), outs, attrs)
        in_types = [self.types[i] if i else None for i in inputs]
        out_types, values = infer_node(node, in_types, self.known, self.opset)
        for o, t, v in zip(outs, out_types, values, strict=False):
            self.types[o] = t
            if v is not None:
                self.known[o] = v
        self.nodes.append(node)
        return outs[0] if num_outputs == 1 else outs

    def output(self, *names: str) -> None:
        self.outputs.extend(names)

    def build(self, verify_graph: bool = True) -> Graph:
        g = Graph(
            self.name,
            tuple(self.inputs),
            tuple(self.outputs),
            tuple(self.nodes),
            self.types,
            self.constants,
            self.opset,
        )
        if verify_graph:
            verify(g)
        return g
