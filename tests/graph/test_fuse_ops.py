"""fuse_ops: expected groups for typical patterns."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.fuse_ops import fuse_ops, group_table
from compiler.graph.printer import print_graph
from compiler.graph.verifier import verify
from tests.graph.helpers import assert_equivalent


def _groups(g):
    return [names for _, names in group_table(g)]


def test_conv_epilogue_fuses_and_pool_is_a_boundary(rng):
    b = GraphBuilder("g")
    x = b.input("x", (1, 4, 8, 8))
    w = b.const("w", rng.standard_normal((4, 4, 3, 3)).astype(np.float32))
    y = b.op("Conv", [x, w], pads=(1, 1, 1, 1), name="conv")
    y = b.op("Add", [y, x], name="residual")
    y = b.op("Relu", [y], name="relu")
    y = b.op("MaxPool", [y], kernel_shape=(2, 2), strides=(2, 2), name="pool")
    y = b.op("Sigmoid", [y], name="sig")
    y = b.op("Mul", [y, b.const("k", np.float32([2.0]))], name="mul")
    y = b.op("ReduceMean", [y, b.const("ax", np.array([1], np.int64))], name="mean")
    b.output(y)
    before = b.build()
    after = fuse_ops(before)
    assert _groups(after) == [["conv", "residual", "relu"], ["pool"], ["sig", "mul"], ["mean"]]
    assert "# relu group=0" in print_graph(after)
    verify(after)
    assert_equivalent(before, after, rng)


def test_intermediate_with_two_uses_ends_the_group(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 8))
    y = b.op("MatMul", [x, b.const("w", rng.standard_normal((8, 8)).astype(np.float32))],
             name="mm")  # fmt: skip
    r = b.op("Relu", [y], name="relu")
    b.output(b.op("Add", [r, y], name="add"))
    after = fuse_ops(b.build())
    assert _groups(after) == [["mm"], ["relu", "add"]]


def test_groups_never_cross_targets():
    b = GraphBuilder("g")
    x = b.input("x", (2, 8))
    r = b.op("Relu", [x], name="relu")
    b.output(b.op("Neg", [r], name="neg"))
    g = b.build()
    g = g.with_nodes([replace(n, target=t) for n, t in zip(g.nodes, ("accel", "cpu"), strict=True)])
    assert _groups(fuse_ops(g)) == [["relu"], ["neg"]]


def test_interleaved_branch_is_scheduled_out_of_the_way(rng):
    # The exporter placed conv2 (another branch) between conv1 and conv1's relu; the
    # scheduler moves the relu up so that it joins conv1's group.
    b = GraphBuilder("g")
    x = b.input("x", (1, 4, 6, 6))
    w1 = b.const("w1", rng.standard_normal((4, 4, 3, 3)).astype(np.float32))
    w2 = b.const("w2", rng.standard_normal((4, 4, 1, 1)).astype(np.float32))
    y1 = b.op("Conv", [x, w1], pads=(1, 1, 1, 1), name="conv1")
    y2 = b.op("Conv", [x, w2], name="conv2")
    r = b.op("Relu", [y1], name="relu1")
    b.output(b.op("Add", [r, y2], name="add"))
    before = b.build()
    after = fuse_ops(before)
    verify(after)
    assert [n.name for n in after.nodes] == ["conv1", "relu1", "conv2", "add"]
    assert _groups(after) == [["conv1", "relu1"], ["conv2", "add"]]
    assert_equivalent(before, after, rng)
