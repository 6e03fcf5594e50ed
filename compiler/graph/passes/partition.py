"""partition: mark every node `target="accel"` or `target="cpu"` (with the reason), by what the
hardware config and the accelerator backend support (`compiler/graph/accel_support.py`), and
report what falls back to the CPU.

Why here: after quantization (only int8 ops can run on the accelerator) and before layout
packing and fusion (which work per region and never fuse across targets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from compiler.graph.accel_support import support
from compiler.graph.boundary import Crossings, graph_crossings
from compiler.graph.ir import Graph, Node
from hw_sim.config import HwConfig


def partition(graph: Graph, cfg: HwConfig) -> Graph:
    accel_values: set[str] = set()
    nodes = []
    for node in graph.nodes:
        why = support(node, graph, cfg, accel_values)
        if why is None:
            accel_values.update(o for o in node.outputs if o)
            nodes.append(replace(node, target="accel", reason=""))
        else:
            nodes.append(replace(node, target="cpu", reason=why))
    return graph.with_nodes(nodes)


def node_macs(node: Node, graph: Graph) -> int:
    """Multiply-accumulates of conv/dense nodes (float or int8), as the node's shapes state
    them (a packed node: channels padded to the block); 0 for other ops."""
    if node.op == "ConvTranspose":  # weight [C_in, C_out/group, k...]: each input pixel of
        x = graph.types[node.inputs[0]].shape  # each channel scatters into C_out/g x k outputs
        w = graph.types[node.inputs[1]].shape
        return int(np.prod(x) * np.prod(w[1:]))
    if node.op in ("Conv", "vtac.conv2d"):
        w = graph.types[node.inputs[1]].shape
        out = graph.types[node.outputs[0]].shape
        if node.attr("packed", 0):
            return int(np.prod(out[:4]) * out[4] * out[5] * w[1] * w[3] * w[2] * w[5])
        return int(np.prod(out) * np.prod(w[1:]))
    if node.op in ("Gemm", "MatMul", "vtac.dense"):
        a = graph.types[node.inputs[0]].shape
        out = graph.types[node.outputs[0]].shape
        if node.attr("packed", 0):
            return int(np.prod(out) * a[1] * a[3])
        return int(np.prod(out) * a[-1])
    return 0


def unpadded_mac_counter(graph: Graph, float_graph: Graph | None) -> Callable[[Node], int]:
    """MACs of one layer as the model states them: the node counted on its float-graph twin
    (same name, before quantization and channel padding); a node without one, on itself."""
    by_name = {n.name: n for n in float_graph.nodes} if float_graph is not None else {}

    def count(node: Node) -> int:
        twin = by_name.get(node.name)
        return node_macs(twin, float_graph) if twin is not None else node_macs(node, graph)

    return count


def unpadded_macs(nodes: Iterable[Node], graph: Graph, float_graph: Graph | None) -> int:
    """The unpadded MACs of `nodes` (`unpadded_mac_counter`)."""
    count = unpadded_mac_counter(graph, float_graph)
    return sum(count(n) for n in nodes)


@dataclass(frozen=True)
class PartitionReport:
    accel_nodes: int
    cpu_nodes: int
    accel_macs: int  # unpadded (the model's own layer shapes)
    cpu_macs: int
    fallbacks: list[tuple[str, str, list[str]]]  # (op, reason, node names)
    padding_macs: int = 0  # extra MACs the accelerator computes on channels padded to blocks
    crossings: Crossings | None = None

    def to_json(self) -> dict:
        total = self.accel_macs + self.cpu_macs
        return {
            "accel_nodes": self.accel_nodes, "cpu_nodes": self.cpu_nodes,
            "accel_macs": self.accel_macs, "cpu_macs": self.cpu_macs,
            "padding_macs": self.padding_macs,
            "accel_share": self.accel_macs / total if total else 0.0,
            **(self.crossings or Crossings(0, 0, 0, 0)).to_json(),
            "fallbacks": [{"op": op, "reason": reason, "nodes": names}
                          for op, reason, names in self.fallbacks],
        }  # fmt: skip

    def render(self) -> str:
        total = self.accel_macs + self.cpu_macs
        share = 100.0 * self.accel_macs / total if total else 0.0
        lines = [
            f"partition: {self.accel_nodes} node(s) on the accelerator, "
            f"{self.cpu_nodes} on the CPU",
            f"MACs: {self.accel_macs:,} on the accelerator, {self.cpu_macs:,} on the CPU "
            f"({share:.1f}% accelerated, unpadded shapes); padding overhead "
            f"{self.padding_macs:,} MACs on the accelerator (channels padded to blocks)",
        ]
        if self.crossings is not None:
            lines.append(self.crossings.render())
        if self.fallbacks:
            lines.append("CPU fallback (op: reason -> nodes):")
            for op, reason, names in self.fallbacks:
                shown = ", ".join(names[:6]) + (
                    f" ... ({len(names)} total)" if len(names) > 6 else ""
                )
                lines.append(f"  {op}: {reason} -> {shown}")
        return "\n".join(lines)


def partition_report(graph: Graph, float_graph: Graph | None = None) -> PartitionReport:
    """The report of a partitioned graph; give the `float_graph` it came from (before
    quantization and packing) to count the MACs unpadded, with the padding apart."""
    buckets: dict[tuple[str, str], list[str]] = {}
    accel = cpu = accel_macs = cpu_macs = padded = 0
    unpadded = unpadded_mac_counter(graph, float_graph)
    for node in graph.nodes:
        macs = unpadded(node)
        if node.target == "accel":
            accel += 1
            accel_macs += macs
            padded += node_macs(node, graph)
        else:
            cpu += 1
            cpu_macs += macs
            buckets.setdefault((node.op, node.reason or "not partitioned"), []).append(node.name)
    fallbacks = [(op, reason, names) for (op, reason), names in sorted(buckets.items())]
    return PartitionReport(
        accel, cpu, accel_macs, cpu_macs, fallbacks, padded - accel_macs, graph_crossings(graph)
    )
