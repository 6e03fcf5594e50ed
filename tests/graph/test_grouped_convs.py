"""Grouped convs with partial blocks per group (expand_groups), the channel shuffle folded
into its producing conv (fold_channel_shuffle), Relu moved before Concat: float rewrites
that must compute what the original graph computes, and reach the accelerator."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.accel_support import MAX_PAD
from compiler.graph.builder import GraphBuilder
from compiler.graph.grouped import expand_group_weights, merged_groups, needs_expansion
from compiler.graph.passes.expand_groups import expand_groups
from compiler.graph.passes.fold_channel_shuffle import fold_channel_shuffle
from compiler.graph.passes.relu_before_concat import relu_before_concat
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.ref.nn import conv_nd
from tests.graph.helpers import assert_equivalent, ops
from tests.graph.shufflenet_unit import shuffle, shufflenet_unit_graph


@pytest.mark.parametrize(
    "cin,cout,group,block,want",
    [(24, 112, 4, 16, 1), (136, 136, 4, 16, 1), (272, 272, 4, 16, 1), (544, 544, 4, 16, 2),
     (136, 136, 4, 8, 1), (272, 272, 4, 8, 2), (96, 96, 4, 16, 2), (64, 64, 4, 16, 4)],
)  # fmt: skip
def test_merged_groups_is_the_largest_whole_block_divisor(cin, cout, group, block, want):
    assert merged_groups(cin, cout, group, block) == want


def test_needs_expansion_leaves_depthwise_dense_and_whole_blocks():
    assert needs_expansion(4, 24, 112, 16)
    assert not needs_expansion(4, 64, 64, 16)  # 16 per group: the grouped kernel runs it
    assert not needs_expansion(24, 24, 24, 16)  # depthwise: block-diagonal in pack_layout
    assert not needs_expansion(1, 24, 112, 16)


@pytest.mark.parametrize("group,new_group", [(4, 1), (4, 2), (6, 3), (3, 1)])
def test_expanded_weights_compute_the_grouped_conv(rng, group, new_group):
    cin, cout = 6 * group, 5 * group
    w = rng.integers(-127, 128, (cout, cin // group, 3, 3)).astype(np.float64)
    wide = expand_group_weights(w, group, new_group)
    assert wide.shape == (cout, cin // new_group, 3, 3)
    assert np.count_nonzero(wide) == np.count_nonzero(w)  # the rest is zeros
    x = rng.integers(-128, 128, (2, cin, 7, 7)).astype(np.float64)
    args = ([2, 2], [1, 1], [1, 1], [1, 1])
    want = conv_nd(x, w, *args[:1], *args[1:], group)
    np.testing.assert_array_equal(conv_nd(x, wide, *args[:1], *args[1:], new_group), want)


def test_expand_weights_rejects_a_non_divisor():
    with pytest.raises(ValueError, match="cannot merge 4 groups"):
        expand_group_weights(np.zeros((8, 2, 1, 1)), 4, 3)


def _grouped_graph(rng, cin, cout, group, k=1, pads=0):
    b = GraphBuilder("grouped", opset=13)
    x = b.input("x", (1, cin, 6, 6))
    w = b.const("w", rng.standard_normal((cout, cin // group, k, k)).astype(np.float32))
    bias = b.const("b", rng.standard_normal(cout).astype(np.float32))
    b.output(b.op("Conv", [x, w, bias], name="gc", group=group, kernel_shape=(k, k),
                  pads=(pads,) * 4))  # fmt: skip
    return b.build()


def test_expand_groups_rewrites_partial_block_groups_only(rng, cfg):
    g = _grouped_graph(rng, 24, 112, 4, k=3, pads=1)
    out = expand_groups(g, cfg)
    (conv,) = out.nodes
    assert conv.name == "gc" and conv.attr("group") == 1
    assert out.types[conv.inputs[1]].shape == (112, 24, 3, 3)
    assert_equivalent(g, out, rng, rtol=1e-4, atol=1e-4)
    for kept in (_grouped_graph(rng, 4 * cfg.block, 4 * cfg.block, 4),  # whole blocks
                 _grouped_graph(rng, 24, 24, 24),  # depthwise
                 _grouped_graph(rng, 24, 112, 4, k=3, pads=MAX_PAD + 1)):  # fmt: skip
        assert expand_groups(kept, cfg).nodes == kept.nodes


def test_expand_groups_caps_the_wasted_macs(rng, cfg):
    """More than BLOCK groups merged into one would waste more than depthwise does."""
    group = cfg.block + 2  # 3 channels per group: no merge into whole blocks but a dense one
    g = _grouped_graph(rng, 3 * group, 3 * group, group)
    assert merged_groups(3 * group, 3 * group, group, cfg.block) == 1
    assert expand_groups(g, cfg).nodes == g.nodes


def _shuffle_graph(rng, act=True, extra_use=False, group=4):
    b = GraphBuilder("shuffle", opset=13)
    x = b.input("x", (1, 12, 5, 5))
    w = b.const("w", rng.standard_normal((24, 12 // group, 1, 1)).astype(np.float32))
    bias = b.const("b", rng.standard_normal(24).astype(np.float32))
    y = b.op("Conv", [x, w, bias], name="gc", group=group)
    if act:
        lo, hi = b.const("lo", np.float32(0)), b.const("hi", np.float32(1.5))
        y = b.op("Clip", [b.op("Relu", [y], name="relu"), lo, hi], name="clip")
    z = shuffle(b, y, 1, 24, 5, 4, "sh")
    b.output(z, y) if extra_use else b.output(z)
    return b.build()


@pytest.mark.parametrize("act,group", [(True, 4), (False, 4), (True, 1), (False, 2)])
def test_channel_shuffle_folds_into_the_producing_conv(rng, cfg, act, group):
    g = _shuffle_graph(rng, act, group=group)
    out = fold_channel_shuffle(g, cfg)
    assert "Transpose" not in ops(out) and "Reshape" not in ops(out)
    conv = out.node("gc")
    assert conv.attr("group", 1) == 1  # interleaved groups: dense
    assert_equivalent(g, out, rng, rtol=1e-4, atol=1e-4)


def test_channel_shuffle_stays_when_its_input_is_read_elsewhere(rng, cfg):
    g = _shuffle_graph(rng, extra_use=True)
    assert fold_channel_shuffle(g, cfg).nodes == g.nodes


def test_other_transposes_and_depthwise_producers_stay(rng, cfg):
    b = GraphBuilder("dwshuffle", opset=13)
    x = b.input("x", (1, 8, 5, 5))
    w = b.const("w", rng.standard_normal((8, 1, 3, 3)).astype(np.float32))
    y = b.op("Conv", [x, w], name="dw", group=8, kernel_shape=(3, 3), pads=(1,) * 4)
    b.output(shuffle(b, y, 1, 8, 5, 2, "sh"))
    g = b.build()
    assert fold_channel_shuffle(g, cfg).nodes == g.nodes


def test_shufflenet_unit_convs_all_reach_the_accelerator(cfg):
    g = shufflenet_unit_graph()
    rng = np.random.default_rng(0)
    samples = [{"x": rng.standard_normal((1, 12, 8, 8)).astype(np.float32)} for _ in range(2)]
    result = compile_for_accel(g, cfg, samples)
    accel = {n.name for n in result.graph.nodes if n.target == "accel"}
    assert {"g1", "dw1", "g2", "g3", "dw2", "g4"} <= accel
    assert not result.plan.kept_float
    assert not {"Transpose", "Reshape"} & {n.op for n in result.graph.nodes}


def test_relu_after_concat_moves_onto_its_operands(rng):
    b = GraphBuilder("relu_concat", opset=13)
    x = b.input("x", (1, 8, 6, 6))
    w = b.const("w", rng.standard_normal((16, 8, 1, 1)).astype(np.float32))
    y = b.op("Conv", [x, w], name="conv")
    p = b.op("AveragePool", [x], name="pool", kernel_shape=(3, 3), strides=(1, 1), pads=(1,) * 4)
    b.output(b.op("Relu", [b.op("Concat", [y, p], name="cat", axis=1)], name="relu"))
    g = b.build()
    out = relu_before_concat(g)
    assert ops(out) == ["Conv", "AveragePool", "Relu", "Relu", "Concat"]
    assert out.node("cat").outputs == g.outputs
    assert_equivalent(g, out, rng)
    # without a conv operand nothing would fold: left alone
    b = GraphBuilder("relu_concat_pools", opset=13)
    x = b.input("x", (1, 8, 6, 6))
    b.output(b.op("Relu", [b.op("Concat", [x, x], axis=1)]))
    g = b.build()
    assert relu_before_concat(g).nodes == g.nodes
