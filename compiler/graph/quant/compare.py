"""How close a quantized graph is to its float graph: what the compiler's automatic choices
(`equalize="auto"`, `requant="auto"`) compare, and what the accuracy benchmarks report.

Compared values (`comparison_points`): the graph outputs, plus the input (the logits) of a
final Softmax or Sigmoid. A softmax of large, nearly equal logits (the light-zoo models'
generated weights) turns into a one-hot vector that int8 reproduces exactly, so comparing the
outputs alone would call every candidate perfect; the logits still tell them apart.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph, Node

FINAL_ACTIVATIONS = ("Softmax", "Sigmoid")


def final_activation(graph: Graph, out: str) -> Node | None:
    """The node producing `out`, looking through Reshape/Flatten/Identity."""
    producers = graph.producers()
    node = producers.get(out)
    while node is not None and node.op in ("Reshape", "Flatten", "Identity"):
        node = producers.get(node.inputs[0])
    return node


def comparison_points(graph: Graph) -> list[str]:
    """Graph outputs, plus the input (logits) of a final Softmax or Sigmoid."""
    points = list(graph.outputs)
    for out in graph.outputs:
        node = final_activation(graph, out)
        if node is not None and node.op in FINAL_ACTIVATIONS and node.inputs[0] not in points:
            points.append(node.inputs[0])
    return points


def output_error(float_graph: Graph, qgraph: Graph, samples, want=None) -> float:
    """The worst compared value's relative L2 error of `qgraph` (the int8 reference executor)
    against `float_graph` over `samples`; `want`, the float graph's values per sample
    (`float_values`) when the caller already has them (one float run for several candidates).
    The quantized graph keeps the float value names, so the logits are found in both."""
    points = comparison_points(float_graph)
    if want is None:
        want = float_values(float_graph, samples)
    got = [run_graph(qgraph, feeds, keep_all=True) for feeds in samples]
    worst = 0.0
    for p in points:
        if not all(p in q for q in got):
            continue  # a logit the quantized graph computes under another name
        w = np.concatenate([np.asarray(f[p], np.float64).ravel() for f in want])
        g = np.concatenate([np.asarray(q[p], np.float64).ravel() for q in got])
        worst = max(worst, float(np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-30)))
    return worst


def float_values(float_graph: Graph, samples) -> list[dict[str, np.ndarray]]:
    """The float graph's compared values per sample."""
    points = comparison_points(float_graph)
    return [
        {p: v for p, v in run_graph(float_graph, feeds, keep_all=True).items() if p in points}
        for feeds in samples
    ]
