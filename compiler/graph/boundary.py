"""Accelerator <-> CPU boundary crossings: values one device produces and the other reads.

A crossing is counted once per value (however many consumers it has on the other side), with
its bytes as stored where it crosses (a packed value with its channel padding). Graph inputs
come from the host and graph outputs go to it: a value that crosses only because the host
reads or writes it is not a crossing. One counting rule for the graph (`vtac inspect`) and the
linked model's launches (the profile), so both report the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from compiler.graph.ir import Graph


@dataclass(frozen=True)
class Crossings:
    to_accel: int  # values the CPU produced that the accelerator reads
    to_cpu: int  # values the accelerator produced that the CPU reads
    to_accel_bytes: int
    to_cpu_bytes: int

    @property
    def count(self) -> int:
        return self.to_accel + self.to_cpu

    @property
    def nbytes(self) -> int:
        return self.to_accel_bytes + self.to_cpu_bytes

    def to_json(self) -> dict:
        return {
            "boundary_crossings": self.count, "boundary_bytes": self.nbytes,
            "to_accel": self.to_accel, "to_cpu": self.to_cpu,
            "to_accel_bytes": self.to_accel_bytes, "to_cpu_bytes": self.to_cpu_bytes,
        }  # fmt: skip

    def render(self) -> str:
        return (
            f"boundary crossings: {self.count} ({self.to_cpu} accelerator -> CPU, "
            f"{self.to_accel} CPU -> accelerator), {self.nbytes:,} bytes"
        )


def count_crossings(
    steps: Iterable[tuple[str, Iterable[str], Iterable[str]]], nbytes: Mapping[str, int]
) -> Crossings:
    """`steps`: (device "accel" | "cpu", values read, values written) in execution order;
    `nbytes`: each value's size. Constants and graph inputs (never written) never cross."""
    steps = [(dev, list(reads), list(writes)) for dev, reads, writes in steps]
    producer = {v: dev for dev, _, writes in steps for v in writes}
    crossed: dict[str, str] = {}  # value -> the device that reads it across the boundary
    for dev, reads, _ in steps:
        for v in reads:
            if v in producer and producer[v] != dev:
                crossed[v] = dev
    to_accel = [v for v, dev in crossed.items() if dev == "accel"]
    to_cpu = [v for v, dev in crossed.items() if dev != "accel"]
    return Crossings(
        len(to_accel), len(to_cpu), sum(nbytes[v] for v in to_accel),
        sum(nbytes[v] for v in to_cpu),
    )  # fmt: skip


def graph_crossings(graph: Graph) -> Crossings:
    """Crossings of a partitioned graph (node targets; unpartitioned nodes count as CPU)."""
    steps = [
        ("accel" if n.target == "accel" else "cpu", [i for i in n.inputs if i], n.outputs)
        for n in graph.nodes
    ]
    sizes = {
        v: int(np.prod(t.shape, dtype=np.int64)) * np.dtype(t.dtype).itemsize
        for v, t in graph.types.items()
    }
    return count_crossings(steps, sizes)
