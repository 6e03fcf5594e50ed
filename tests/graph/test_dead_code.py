"""eliminate_dead_code: before/expected pairs."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.dead_code import eliminate_dead_code
from tests.graph.helpers import assert_equivalent, ops


def test_unused_branch_and_constant_are_removed(rng):
    b = GraphBuilder("g")
    x = b.input("x", (3, 4))
    unused = b.op("Mul", [x, b.const("k", np.float32([2.0]))], name="unused_mul")
    b.op("Exp", [unused], name="unused_exp")
    b.output(b.op("Relu", [x], name="relu"))
    before = b.build()
    after = eliminate_dead_code(before)
    assert ops(after) == ["Relu"]
    assert "k" not in after.constants and "k" not in after.types
    assert_equivalent(before, after, rng)


def test_multi_output_node_is_kept_when_one_output_is_used():
    b = GraphBuilder("g")
    x = b.input("x", (4, 2))
    parts = b.op("Split", [x, b.const("s", np.array([1, 3], np.int64))], num_outputs=2)
    b.output(b.op("Relu", [parts[1]]))
    after = eliminate_dead_code(b.build())
    assert ops(after) == ["Split", "Relu"]
