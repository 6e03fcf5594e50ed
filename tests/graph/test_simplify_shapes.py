"""simplify_shapes: before/expected pairs."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.dead_code import eliminate_dead_code
from compiler.graph.passes.simplify_shapes import simplify_shapes
from tests.graph.helpers import assert_equivalent, ops


def _run(g):
    return eliminate_dead_code(simplify_shapes(g))


def test_reshape_flatten_squeeze_chain_becomes_one_reshape(rng):
    b = GraphBuilder("g")
    x = b.input("x", (1, 8, 1, 1))
    y = b.op("Squeeze", [x, b.const("axes", np.array([2, 3], np.int64))])
    y = b.op("Unsqueeze", [y, b.const("axes0", np.array([0], np.int64))])
    y = b.op("Flatten", [y], axis=1)
    y = b.op("Reshape", [y, b.const("s", np.array([2, -1], np.int64))])
    b.output(b.op("Relu", [y]))
    before = b.build()
    after = _run(before)
    assert ops(after) == ["Reshape", "Relu"]
    reshape = after.nodes[0]
    assert reshape.inputs[0] == "x"
    np.testing.assert_array_equal(after.constants[reshape.inputs[1]], [2, 4])
    assert_equivalent(before, after, rng)


def test_noop_reshape_identity_and_dropout_vanish(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 6))
    y = b.op("Identity", [x])
    y = b.op("Dropout", [y])
    y = b.op("Flatten", [y], axis=1)
    b.output(b.op("Sigmoid", [y]))
    before = b.build()
    after = _run(before)
    assert ops(after) == ["Sigmoid"]
    assert_equivalent(before, after, rng)


def test_transposes_compose_and_cancel(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 3, 4))
    y = b.op("Transpose", [x], perm=(1, 2, 0))
    y = b.op("Transpose", [y], perm=(2, 0, 1))
    z = b.op("Transpose", [y], perm=(0, 2, 1))
    z = b.op("Transpose", [z], perm=(1, 0, 2))
    b.output(b.op("Relu", [y]), z)
    before = b.build()
    after = _run(before)
    assert ops(after) == ["Transpose", "Relu"]
    assert after.nodes[0].attr("perm") == (2, 0, 1) and after.nodes[0].inputs == ("x",)
    assert after.nodes[1].inputs == ("x",)
    assert_equivalent(before, after, rng)


def test_graph_output_identity_is_kept():
    b = GraphBuilder("g")
    x = b.input("x", (2,))
    b.output(b.op("Identity", [x]))
    assert ops(_run(b.build())) == ["Identity"]


def test_dropout_with_unused_mask_vanishes_but_not_with_a_used_one(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 3))
    y, _mask = b.op("Dropout", [x], num_outputs=2)
    b.output(b.op("Relu", [y]))
    before = b.build()
    assert ops(_run(before)) == ["Relu"]
    b = GraphBuilder("g")
    x = b.input("x", (2, 3))
    y, mask = b.op("Dropout", [x], num_outputs=2)
    b.output(b.op("Relu", [y]), mask)
    assert ops(_run(b.build())) == ["Dropout", "Relu"]
