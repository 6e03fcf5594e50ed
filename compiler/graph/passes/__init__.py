"""Graph passes: each is a named, pure `Graph -> Graph` function in its own module.

`GraphPass` wraps such a function with its name; `run_passes` applies a list in order,
verifying after each pass when asked (always under `VTAC_DEBUG>=1`) and printing pass names
and times (`VTAC_DEBUG>=1`) or the IR after every pass (`VTAC_DEBUG>=2`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from compiler.graph.ir import Graph
from compiler.graph.verifier import verify


@dataclass(frozen=True)
class GraphPass:
    name: str
    fn: Callable[[Graph], Graph]
    reason: str = ""

    def __call__(self, graph: Graph) -> Graph:
        return self.fn(graph)


def debug_level() -> int:
    try:
        return int(os.environ.get("VTAC_DEBUG", "0"))
    except ValueError:
        return 0


def run_passes(graph: Graph, passes: Sequence[GraphPass], verify_each: bool = False) -> Graph:
    level = debug_level()
    for p in passes:
        start = time.perf_counter()
        graph = p(graph)
        if level >= 1:
            ms = (time.perf_counter() - start) * 1e3
            print(f"[vtac] pass {p.name}: {ms:.1f} ms, {len(graph.nodes)} nodes", file=sys.stderr)
        if level >= 2:
            print(graph, file=sys.stderr)
        if verify_each or level >= 1:
            verify(graph)
    return graph
