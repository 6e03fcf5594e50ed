"""The reference executor: runs a graph on NumPy arrays, node by node, with the kernels of
`compiler.graph.ref`. It is the oracle every graph pass is checked against and the CPU
fallback until the LLVM backend runs graphs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compiler.graph.ir import Graph, GraphError, Node
from compiler.graph.ref import KERNELS, KernelCtx, KernelError, as_tuple


class ExecutionError(RuntimeError):
    """A node failed while executing; the message names the node and op."""


def run_node(node: Node, args: list[np.ndarray | None], opset: int) -> tuple[np.ndarray, ...]:
    fn = KERNELS.get(node.op)
    if fn is None:
        raise ExecutionError(f"node {node.name!r}: no reference kernel for op {node.op!r}")
    ctx = KernelCtx(node.attrs, opset, node.name, node.op, len(node.outputs))
    # Trailing omitted optional inputs are simply not passed.
    while args and args[-1] is None:
        args = args[:-1]
    try:
        with np.errstate(all="ignore"):
            return as_tuple(fn(ctx, *args))
    except KernelError:
        raise
    except Exception as e:  # a kernel bug or bad input: say where it happened
        raise ExecutionError(
            f"node {node.name!r} ({node.op}) failed: {type(e).__name__}: {e}"
        ) from e


def check_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Feeds as arrays of the declared types; errors name the input at fault."""
    missing = [i for i in graph.inputs if i not in feeds]
    if missing:
        raise GraphError(f"graph {graph.name!r}: no value fed for input(s) {', '.join(missing)}")
    out = {}
    for name in graph.inputs:
        a = np.asarray(feeds[name])
        t = graph.types[name]
        if tuple(a.shape) != t.shape:
            raise GraphError(f"input {name!r}: expected shape {t.shape}, got {tuple(a.shape)}")
        if a.dtype.name != t.dtype:
            raise GraphError(f"input {name!r}: expected dtype {t.dtype}, got {a.dtype.name}")
        out[name] = a
    return out


def run_graph(
    graph: Graph, feeds: Mapping[str, np.ndarray], keep_all: bool = False
) -> dict[str, np.ndarray]:
    """Execute `graph`; returns its outputs (or every value when `keep_all`)."""
    env: dict[str, np.ndarray] = dict(graph.constants)
    env.update(check_feeds(graph, feeds))
    # Free each intermediate after its last use so that big models fit in memory.
    last_use: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            last_use[v] = i
    keep = set(graph.outputs) | set(graph.constants) | set(graph.inputs)
    for i, node in enumerate(graph.nodes):
        args = [env[v] if v else None for v in node.inputs]
        results = run_node(node, args, graph.opset)
        if len(results) < len([o for o in node.outputs if o]):
            raise ExecutionError(f"node {node.name!r} produced {len(results)} outputs")
        for name, value in zip(node.outputs, results, strict=False):
            if name:
                env[name] = np.asarray(value)
        if not keep_all:
            for v in node.inputs:
                if v and last_use.get(v) == i and v not in keep:
                    env.pop(v, None)
    if keep_all:
        return env
    return {o: env[o] for o in graph.outputs}
