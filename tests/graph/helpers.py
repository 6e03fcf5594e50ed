"""Shared checks for pass tests: numerical equivalence of two graphs on random inputs."""

from __future__ import annotations

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph
from compiler.graph.verifier import verify


def random_feeds(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        name: rng.standard_normal(graph.types[name].shape).astype(graph.types[name].dtype)
        for name in graph.inputs
    }


def assert_equivalent(
    before: Graph, after: Graph, rng: np.random.Generator, rtol: float = 1e-5, atol: float = 1e-5
) -> None:
    """`after` verifies, keeps the interface, and computes what `before` computes (float32
    tolerances: the passes reorder arithmetic)."""
    verify(after)
    assert after.inputs == before.inputs and after.outputs == before.outputs
    feeds = random_feeds(before, rng)
    want = run_graph(before, feeds)
    got = run_graph(after, feeds)
    for name in before.outputs:
        assert got[name].shape == want[name].shape and got[name].dtype == want[name].dtype
        np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=name)


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]
