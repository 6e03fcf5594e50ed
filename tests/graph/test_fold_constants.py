"""fold_constants: before/expected pairs and a numerical check."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.fold_constants import fold_constants
from tests.graph.helpers import assert_equivalent, ops


def test_shape_chain_becomes_constant_reshape(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 3, 4))
    s = b.op("Shape", [x], name="shape")
    first = b.op("Gather", [s, b.const("i0", np.array(0, np.int64))], name="gather")
    first = b.op("Unsqueeze", [first, b.const("ax", np.array([0], np.int64))], name="unsq")
    target = b.op("Concat", [first, b.const("m1", np.array([-1], np.int64))], axis=0, name="cat")
    b.output(b.op("Reshape", [x, target], name="reshape", out="y"))
    before = b.build()
    after = fold_constants(before)
    assert ops(after) == ["Reshape"]
    shape_input = after.nodes[0].inputs[1]
    np.testing.assert_array_equal(after.constants[shape_input], [2, -1])
    assert_equivalent(before, after, rng)


def test_generated_weights_fold_and_live_nodes_stay(rng):
    b = GraphBuilder("g")
    x = b.input("x", (1, 4))
    w = b.op("ConstantOfShape", [b.const("shape", np.array([4, 4], np.int64))],
             value=np.array([0.5], np.float32), name="cos")  # fmt: skip
    b.output(b.op("MatMul", [x, w], name="mm"))
    before = b.build()
    after = fold_constants(before)
    assert ops(after) == ["MatMul"]
    np.testing.assert_array_equal(after.constants[after.nodes[0].inputs[1]], np.full((4, 4), 0.5))
    assert_equivalent(before, after, rng)


def test_graph_output_computed_from_constants_is_kept():
    b = GraphBuilder("g")
    x = b.input("x", (1,))
    c = b.op("Neg", [b.const("c", np.ones(3, np.float32))], name="neg")
    b.output(x, c)
    after = fold_constants(b.build())
    assert ops(after) == ["Neg"]


def test_generated_weight_beyond_the_size_limit_folds_as_a_broadcast_view(rng):
    # ZFNet-512's fc6 weight (75 M elements) is a ConstantOfShape above max_elements: it must
    # still fold (as a zero-copy view) or its Gemm stays float on the CPU.
    b = GraphBuilder("g")
    x = b.input("x", (1, 4))
    shape = b.const("shape", np.array([4, 4], np.int64))
    w = b.op("ConstantOfShape", [shape], value=np.array([0.5], np.float32), name="cos")
    b.output(b.op("MatMul", [x, w], name="mm"))
    before = b.build()
    after = fold_constants(before, max_elements=8)
    assert ops(after) == ["MatMul"]
    value = after.constants[after.nodes[0].inputs[1]]
    assert value.dtype == np.float32 and not value.flags.writeable and not any(value.strides)
    np.testing.assert_array_equal(value, np.full((4, 4), 0.5, np.float32))
    assert_equivalent(before, after, rng)


def test_other_values_beyond_the_size_limit_stay_nodes():
    b = GraphBuilder("g")
    x = b.input("x", (1, 4))
    w = b.op("Neg", [b.const("c", np.ones((4, 4), np.float32))], name="neg")
    b.output(b.op("MatMul", [x, w], name="mm"))
    assert ops(fold_constants(b.build(), max_elements=8)) == ["Neg", "MatMul"]
