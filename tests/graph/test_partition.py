"""partition: what goes to the accelerator and why the rest stays on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.accel_support import MAX_PAD
from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.partition import partition, partition_report
from tests.graph.helpers import assert_equivalent


def _int_conv_graph(cfg, cin, cout, group=1, pad=1, dilation=1, k=3):
    b = GraphBuilder("g")
    x = b.input("x", (1, cin, 8, 8), "int8")
    w = b.const("w", np.ones((cout, cin // group, k, k), np.int8))
    acc = b.op("vtac.conv2d", [x, w], strides=(1, 1), pads=(pad,) * 4,
               dilations=(dilation, dilation), group=group, name="conv")  # fmt: skip
    y = b.op("vtac.requantize", [acc], shift=4, lo=0, hi=127, name="requant")
    b.output(b.op("vtac.dequantize", [y], exp=-3, name="deq"))
    return b.build()


def _targets(g):
    return {n.name: (n.target, n.reason) for n in g.nodes}


def test_int8_conv_and_epilogue_go_to_the_accelerator(cfg, rng):
    before = _int_conv_graph(cfg, 3, 2 * cfg.block)
    g = partition(before, cfg)
    assert_equivalent(before, g, rng, rtol=0, atol=0)  # marks targets, never changes a value
    t = _targets(g)
    assert t["conv"][0] == "accel" and t["requant"][0] == "accel"
    assert t["deq"] == ("cpu", "int8 -> float conversion (the accelerator has no float unit)")


def test_grouped_conv_needs_whole_blocks_per_group(cfg):
    ok = partition(_int_conv_graph(cfg, 4 * cfg.block, 4 * cfg.block, group=2), cfg)
    assert _targets(ok)["conv"][0] == "accel"
    two_per_group = _int_conv_graph(cfg, 2 * cfg.block, 2 * cfg.block, group=cfg.block)
    two_per_group = partition(two_per_group, cfg)
    target, reason = _targets(two_per_group)["conv"]
    assert target == "cpu" and f"multiple of BLOCK={cfg.block}" in reason
    # The epilogue of a CPU conv stays on the CPU too.
    assert _targets(two_per_group)["requant"][0] == "cpu"
    # Depthwise (one channel per group) runs as block-diagonal GEMMs (tests/graph/test_depthwise).
    depthwise = partition(_int_conv_graph(cfg, cfg.block, cfg.block, group=cfg.block), cfg)
    assert _targets(depthwise)["conv"][0] == "accel"


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        (dict(pad=MAX_PAD + 1, k=1), f"exceeds the load unit's {MAX_PAD} per side"),
        (dict(dilation=2), "dilation != 1"),
    ],
)
def test_unsupported_conv_variants_fall_back_with_reason(cfg, kwargs, reason):
    g = partition(_int_conv_graph(cfg, cfg.block, cfg.block, **kwargs), cfg)
    target, why = _targets(g)["conv"]
    assert target == "cpu" and reason in why


def test_float_ops_fall_back_and_report_lists_them(cfg, rng):
    b = GraphBuilder("f")
    x = b.input("x", (1, 3, 8, 8))
    w = b.const("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    y = b.op("Conv", [x, w], name="fconv")
    b.output(b.op("Softmax", [b.op("MaxPool", [y], kernel_shape=(2, 2), name="pool")], name="sm"))
    before = b.build()
    g = partition(before, cfg)
    assert_equivalent(before, g, rng, rtol=0, atol=0)
    report = partition_report(g)
    assert report.accel_nodes == 0 and report.cpu_nodes == 3
    assert report.cpu_macs == 4 * 6 * 6 * 3 * 9
    text = report.render()
    assert "Conv: float convolution (not quantized" in text and "-> fconv" in text
    assert "MaxPool: float pooling (its input has no int8 form" in text and "-> pool" in text
    assert "Softmax: softmax needs exp/div (float) -> sm" in text
