"""The graph IR: immutable records for tensor types, nodes and graphs.

A `Graph` is in SSA form: every value name is defined exactly once, by a graph input, a constant
or one output of one node, and `nodes` is topologically ordered. Op names are ONNX op types for
ONNX semantics (`Conv`, `Relu`, ...) and `vtac.*` for vtac's own ops (quantization, layout).
Attributes follow ONNX: ints, floats, strings, tuples of those, or NumPy arrays for tensor
attributes. Passes never mutate: they build new records with `dataclasses.replace` or the
`GraphBuilder` helper below. See `docs/graph.md` for the grammar of the text form.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

# dtypes the graph level knows, by NumPy name; the short names are used by the printer.
DTYPE_SHORT: dict[str, str] = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "int8": "i8",
    "uint8": "u8",
    "int16": "i16",
    "uint16": "u16",
    "int32": "i32",
    "uint32": "u32",
    "int64": "i64",
    "uint64": "u64",
    "bool": "bool",
}

# Targets a node can be assigned to by the partition pass.
TARGETS = ("accel", "cpu")


class GraphError(ValueError):
    """A graph is malformed; the message names the node or value at fault."""


@dataclass(frozen=True)
class TensorType:
    """A static tensor type: a fully known shape (tuple of ints) and a NumPy dtype name."""

    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_SHORT:
            raise GraphError(f"unsupported dtype {self.dtype!r}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # Python ints: an absurd shape cannot wrap around

    @property
    def rank(self) -> int:
        return len(self.shape)

    @staticmethod
    def of(array: np.ndarray) -> TensorType:
        return TensorType(tuple(array.shape), np.dtype(array.dtype).name)

    def __str__(self) -> str:
        return f"{DTYPE_SHORT[self.dtype]}[{','.join(str(d) for d in self.shape)}]"


def _freeze_attr(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.flags.writeable = False
        return value
    if isinstance(value, list | tuple):
        return tuple(_freeze_attr(v) for v in value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


@dataclass(frozen=True)
class Node:
    """One operation. `inputs` may contain "" for an omitted optional input (as in ONNX).

    `group` is the fusion group id set by `fuse_ops` (None before fusion); `target` is "accel"
    or "cpu" once `partition` has run, and `reason` says why a node stays on the CPU.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    group: int | None = None
    target: str | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        frozen = {k: _freeze_attr(v) for k, v in sorted(self.attrs.items())}
        object.__setattr__(self, "attrs", MappingProxyType(frozen))

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def with_attrs(self, **updates: Any) -> Node:
        """A copy with some attributes changed (a value of None removes the attribute)."""
        merged = dict(self.attrs)
        for k, v in updates.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        return replace(self, attrs=merged)


@dataclass(frozen=True)
class Graph:
    """A typed dataflow graph.

    `types` gives the type of every value (inputs, constants, node outputs); `constants` holds
    the values of initializers (read-only arrays); `opset` is the default-domain ONNX opset the
    ONNX ops follow.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    types: Mapping[str, TensorType]
    constants: Mapping[str, np.ndarray]
    opset: int = 17

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        consts = {}
        for k, v in self.constants.items():
            a = np.asarray(v)
            if a.flags.writeable:
                a = a.copy()
                a.flags.writeable = False
            consts[k] = a
        object.__setattr__(self, "constants", MappingProxyType(consts))
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))

    def __repr__(self) -> str:
        from compiler.graph.printer import print_graph

        return print_graph(self)

    # ----- queries ------------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        """Map value name -> the node defining it."""
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        """Map value name -> nodes using it (in node order; a node appears once per use)."""
        users: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(n)
        return users

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"graph {self.name!r} has no node named {name!r}")

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items()))

    def with_nodes(
        self,
        nodes: Iterable[Node],
        types: Mapping[str, TensorType] | None = None,
        constants: Mapping[str, np.ndarray] | None = None,
        outputs: Iterable[str] | None = None,
    ) -> Graph:
        """A copy with new nodes (and optionally types/constants/outputs); unused types and
        constants are dropped so the graph stays tidy."""
        nodes = tuple(nodes)
        types = dict(self.types if types is None else types)
        constants = dict(self.constants if constants is None else constants)
        outputs = tuple(self.outputs if outputs is None else outputs)
        used = set(self.inputs) | set(outputs)
        for n in nodes:
            used.update(i for i in n.inputs if i)
            used.update(o for o in n.outputs if o)
        return replace(
            self,
            nodes=nodes,
            outputs=outputs,
            types={k: v for k, v in types.items() if k in used},
            constants={k: v for k, v in constants.items() if k in used},
        )


class NameGen:
    """Fresh value/node names that do not collide with any name already in a graph."""

    def __init__(self, graph: Graph | None = None) -> None:
        self.taken: set[str] = set()
        if graph is not None:
            self.taken.update(graph.types)
            self.taken.update(graph.constants)
            self.taken.update(n.name for n in graph.nodes)

    def __call__(self, base: str) -> str:
        name = base
        i = 1
        while name in self.taken:
            name = f"{base}_{i}"
            i += 1
        self.taken.add(name)
        return name
