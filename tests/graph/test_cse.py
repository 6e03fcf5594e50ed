"""eliminate_common_subexpressions: before/expected pairs."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.cse import eliminate_common_subexpressions
from compiler.graph.passes.dead_code import eliminate_dead_code
from tests.graph.helpers import assert_equivalent, ops


def test_duplicate_nodes_and_equal_constants_merge(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 5))
    c1 = b.const("c1", np.full((5,), 3.0, np.float32))
    c2 = b.const("c2", np.full((5,), 3.0, np.float32))
    a1 = b.op("Add", [x, c1], name="add1")
    a2 = b.op("Add", [x, c2], name="add2")
    r1, r2 = b.op("Relu", [a1], name="r1"), b.op("Relu", [a2], name="r2")
    b.output(b.op("Mul", [r1, r2], name="mul"))
    before = b.build()
    after = eliminate_dead_code(eliminate_common_subexpressions(before))
    assert ops(after) == ["Add", "Relu", "Mul"]
    mul = after.nodes[-1]
    assert mul.inputs[0] == mul.inputs[1]
    assert len(after.constants) == 1
    assert_equivalent(before, after, rng)


def test_different_attributes_do_not_merge():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3, 4))
    t1 = b.op("Transpose", [x], perm=(0, 2, 1))
    t2 = b.op("Transpose", [x], perm=(1, 0, 2))
    b.output(t1, t2)
    after = eliminate_common_subexpressions(b.build())
    assert ops(after) == ["Transpose", "Transpose"]


def test_graph_outputs_are_never_merged_away():
    b = GraphBuilder("g")
    x = b.input("x", (3,))
    b.output(b.op("Neg", [x], name="n1"), b.op("Neg", [x], name="n2"))
    after = eliminate_common_subexpressions(b.build())
    assert ops(after) == ["Neg", "Neg"]


def test_equal_broadcast_splats_merge_and_differ_from_other_fills():
    # fold_constants' zero-copy ConstantOfShape views are keyed without materializing them
    b = GraphBuilder("g")
    x = b.input("x", (2, 5))
    c1 = b.const("c1", np.broadcast_to(np.float32(2.0), (5,)))
    c2 = b.const("c2", np.broadcast_to(np.float32(2.0), (5,)))
    c3 = b.const("c3", np.broadcast_to(np.float32(3.0), (5,)))
    a = b.op("Add", [b.op("Add", [x, c1], name="a1"), c2], name="a2")
    b.output(b.op("Add", [a, c3], name="a3"))
    after = eliminate_dead_code(eliminate_common_subexpressions(b.build()))
    assert after.nodes[0].inputs[1] == after.nodes[1].inputs[1]
    assert after.nodes[2].inputs[1] != after.nodes[0].inputs[1]
