"""Depthwise convs and average pools reach the accelerator at graph level: block-diagonal
weights, quantize/partition/pack of depthwise convs, the avgpool -> conv rewrite."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.depthwise import block_diagonal_weights
from compiler.graph.executor import run_graph
from compiler.graph.passes.avgpool_as_conv import avgpool_as_conv, pool_window
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.ref.nn import conv_nd
from compiler.graph.ref.vtac_ops import unpack_weight_array
from tests.graph.helpers import assert_equivalent


def test_block_diagonal_weights_compute_the_depthwise_conv(rng):
    for c, block in [(32, 16), (24, 16), (24, 8), (5, 8)]:
        w = rng.integers(-127, 128, (c, 1, 3, 3)).astype(np.int8)
        wd = block_diagonal_weights(w, block)
        cp = -(-c // block) * block
        assert wd.shape == (cp, block, 3, 3)
        # exactly one non-zero column per output channel: the channel itself
        for o in range(c):
            others = np.delete(wd[o], o % block, axis=0)
            assert not others.any() and np.array_equal(wd[o, o % block], w[o, 0])
        assert not wd[c:].any()  # padded channels have zero weights
        x = rng.integers(-128, 128, (1, c, 7, 7)).astype(np.float64)
        xp = np.zeros((1, cp, 7, 7))
        xp[:, :c] = x
        want = conv_nd(x, w.astype(np.float64), [2, 2], [1, 1], [1, 1], [1, 1], c)
        got = conv_nd(xp, wd.astype(np.float64), [2, 2], [1, 1], [1, 1], [1, 1], cp // block)
        np.testing.assert_array_equal(got[:, :c], want)
        assert not got[:, c:].any()


def _depthwise_graph(rng, c, k, s, act="relu6"):
    b = GraphBuilder("dw", opset=13)
    x = b.input("x", (1, c, 12, 12))
    w = b.const("w", (rng.standard_normal((c, 1, k, k)) * 0.3).astype(np.float32))
    bias = b.const("b", (rng.standard_normal(c) * 0.1).astype(np.float32))
    y = b.op("Conv", [x, w, bias], name="dw", group=c, strides=(s, s), pads=(k // 2,) * 4,
             kernel_shape=(k, k))  # fmt: skip
    if act == "relu6":
        y = b.op("Clip", [y, b.const("lo", np.float32(0)), b.const("hi", np.float32(6))])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("c,k,s", [(32, 3, 1), (24, 3, 2), (96, 5, 1), (24, 5, 2), (96, 3, 2)])
def test_depthwise_conv_is_quantized_partitioned_and_packed_block_diagonal(cfg, rng, c, k, s):
    g = _depthwise_graph(rng, c, k, s)
    samples = [{"x": rng.standard_normal((1, c, 12, 12)).astype(np.float32)} for _ in range(2)]
    result = compile_for_accel(g, cfg, samples)
    assert [layer.anchor for layer in result.plan.layers] == ["dw"] and not result.plan.kept_float
    q = result.graph
    conv = q.node("dw")
    assert conv.op == "vtac.conv2d" and conv.target == "accel" and conv.attr("packed") == 1
    blocks = -(-c // cfg.block)
    assert conv.attr("group") == blocks  # one group per block of channels
    wp = q.constants[conv.inputs[1]]
    assert wp.shape == (blocks, 1, k, k, cfg.block, cfg.block)
    w = unpack_weight_array(wp)
    assert np.count_nonzero(w) <= c * k * k  # diagonal blocks only; padded channels zero
    # The requantize (with the ReLU6 clamp) is fused into the conv's group.
    rq = next(n for n in q.nodes if n.op == "vtac.requantize")
    assert rq.target == "accel" and rq.group == conv.group and rq.attr("lo") == 0
    # The quantized graph tracks the float one (int8 error, loosely bounded).
    feed = samples[0]
    want, got = run_graph(g, feed)[g.outputs[0]], run_graph(q, feed)[g.outputs[0]]
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max() + 0.05


def test_average_pools_become_depthwise_convs_with_mean_weights(cfg, rng):
    b = GraphBuilder("pools", opset=13)
    x = b.input("x", (1, 24, 14, 14))
    a = b.op("AveragePool", [x], name="ap3", kernel_shape=(3, 3), strides=(2, 2),
             pads=(1, 1, 1, 1), count_include_pad=1)  # fmt: skip
    n = b.op("AveragePool", [x], name="ap_nopad", kernel_shape=(2, 2), strides=(2, 2))
    e = b.op("AveragePool", [x], name="ap_exclude", kernel_shape=(3, 3), pads=(1, 1, 1, 1))
    r = b.op("AveragePool", [x], name="ap_rect", kernel_shape=(3, 2), strides=(2, 1))
    u = b.op("AveragePool", [x], name="ap_unequal", kernel_shape=(3, 3), pads=(1, 1, 0, 0),
             count_include_pad=1)  # fmt: skip
    gp = b.op("GlobalAveragePool", [a], name="gap")
    gr = b.op("GlobalAveragePool", [r], name="gap_rect")  # 6x13: stays (weight DMA, no MACs)
    b.output(gp, n, e, r, u, gr)
    g = b.build()
    after = avgpool_as_conv(g, cfg)
    assert_equivalent(g, after, rng)
    kinds = {nd.name: nd.op for nd in after.nodes}
    assert kinds == {"ap3": "Conv", "ap_nopad": "Conv", "ap_exclude": "AveragePool",
                     "ap_rect": "Conv", "ap_unequal": "AveragePool", "gap": "Conv",
                     "gap_rect": "GlobalAveragePool"}  # fmt: skip
    assert after.node("ap_rect").attrs["strides"] == (2, 1)
    assert "non-square 6x13" in pool_window(g.node("gap_rect"), g, cfg)
    assert "count_include_pad=0" in pool_window(g.node("ap_exclude"), g, cfg)
    assert "not equal on all sides" in pool_window(g.node("ap_unequal"), g, cfg)
    big = GraphBuilder("big", opset=13)
    big.output(big.op("GlobalAveragePool", [big.input("x", (1, 8, 40, 40))], name="gap"))
    bg = big.build()
    assert "weight rows" in pool_window(bg.node("gap"), bg, cfg)  # 1600 > either wgt SRAM


def test_mean_weight_error_is_as_documented(cfg, rng):
    """The 7x7 global pool: w_q = 84 at 2^-12 (+0.49 %), the 3x3 pool 114 at 2^-10 (+0.20 %)."""
    b = GraphBuilder("gap", opset=13)
    x = b.input("x", (1, 16, 7, 7))
    a = b.op("AveragePool", [x], name="ap", kernel_shape=(3, 3), pads=(1,) * 4,
             count_include_pad=1)  # fmt: skip
    b.output(b.op("GlobalAveragePool", [a], name="gap"))
    g = b.build()
    samples = [{"x": rng.standard_normal((1, 16, 7, 7)).astype(np.float32)} for _ in range(2)]
    result = compile_for_accel(g, cfg, samples)
    q = result.graph
    for name, wq, k in (("ap", 114, 10), ("gap", 84, 12)):
        layer = next(la for la in result.plan.layers if la.anchor == name)
        assert layer.exp_w == -k
        w = q.constants[q.node(name).inputs[1]]
        assert set(np.unique(w)) == {0, wq}


def test_average_pool_left_on_the_cpu_says_why(cfg, rng):
    b = GraphBuilder("exclude", opset=13)
    x = b.input("x", (1, 16, 8, 8))
    w = b.const("w", (rng.standard_normal((16, 16, 1, 1)) * 0.3).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, w], name="pw")])
    b.output(b.op("AveragePool", [y], name="ap", kernel_shape=(3, 3), pads=(1,) * 4))
    g = b.build()
    samples = [{"x": rng.standard_normal((1, 16, 8, 8)).astype(np.float32)} for _ in range(2)]
    node = compile_for_accel(g, cfg, samples).graph.node("ap")
    assert node.op == "AveragePool" and node.target == "cpu"
    assert "count_include_pad=0" in node.reason
