"""Depthwise convs, average pools and folded activations compiled as whole models and co-run on
hw_sim: the integer path bit-exact with the graph's reference executor at both configs, every
accelerator launch portable (three OUT-buffer semantics, VTA fsim's order, hazard rules)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.driver.model import AccelLaunch
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from hw_sim.portability import check_portable
from runtime.executor import compare_integer_values, launch_mismatches, reference_values
from tests.model.helpers import mobilenet_block, run_keeping_launch_images, samples

pytestmark = pytest.mark.sim


def _corun_checked(model, feed):
    """Co-run `model` on `feed`: bit-exact with the reference, each accelerator launch
    portable on the DRAM image it starts from. Returns the run result."""
    assert not isinstance(model.launches[0], AccelLaunch)  # the input is packed first
    res, before = run_keeping_launch_images(model, feed)
    ref = reference_values(model, feed)
    assert compare_integer_values(res.values, ref) == []
    assert launch_mismatches(model, res.values) == []
    assert len(before) == len(model.accel_launches())
    for i, dram in before.items():
        report = check_portable(model.launches[i].program, dram=dram)
        assert report.portable, f"{model.launches[i].name}: {report.summary()}"
    return res


def _corun_vs_float(model, g, seed):
    """Co-run `model` (checked as `_corun_checked` does) on a seeded sample: (int8 output,
    the float graph's output)."""
    feed = samples(g, 1, seed=seed)[0]
    res = _corun_checked(model, feed)
    return res.outputs[g.outputs[0]], run_graph(g, feed)[g.outputs[0]]


def _depthwise_model(c, k, s, h, seed=0):
    rng = np.random.default_rng(seed)
    b = GraphBuilder("dw", opset=13)
    x = b.input("x", (1, c, h, h))
    w = b.const("w", (rng.standard_normal((c, 1, k, k)) * 0.3).astype(np.float32))
    bias = b.const("b", (rng.standard_normal(c) * 0.1).astype(np.float32))
    y = b.op("Conv", [x, w, bias], name="dw", group=c, strides=(s, s), pads=(k // 2,) * 4,
             kernel_shape=(k, k))  # fmt: skip
    b.output(b.op("Clip", [y, b.const("lo", np.float32(0)), b.const("hi", np.float32(6))]))
    return b.build()


@pytest.mark.parametrize(
    "c,k,s", [(32, 3, 1), (32, 3, 2), (24, 3, 1), (24, 5, 2), (96, 5, 1), (96, 3, 2)]
)
def test_depthwise_conv_requantize_relu6_is_bit_exact(cfg, c, k, s):
    g = _depthwise_model(c, k, s, 11)
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["dw"] and not model.meta["fallbacks"]
    (la,) = model.accel_launches()
    oh = (11 + 2 * (k // 2) - k) // s + 1
    assert la.macs == c * oh * oh * k * k  # useful MACs
    blocks = -(-c // cfg.block)
    assert la.padded_macs == blocks * cfg.block * cfg.block * oh * oh * k * k  # GEMM busy
    feed = samples(g, 1, seed=7)[0]
    res = _corun_checked(model, feed)
    out = res.outputs[g.outputs[0]]
    assert 0 < np.count_nonzero(out) < out.size  # the clamp is exercised on both sides
    assert np.abs(out - run_graph(g, feed)[g.outputs[0]]).max() < 0.1 * 6


@pytest.mark.parametrize("c,k,stride", [(24, 3, (2, 1)), (40, 5, (2, 1)), (16, 3, (1, 2))])
def test_depthwise_conv_with_unequal_strides_is_bit_exact(cfg, c, k, stride):
    """PP-OCR-cls's 2x1-strided depthwise convs, on a non-square input (6 x 13)."""
    rng = np.random.default_rng(c + k)
    b = GraphBuilder("dw21", opset=13)
    x = b.input("x", (1, c, 6, 13))
    w = b.const("w", (rng.standard_normal((c, 1, k, k)) * 0.3).astype(np.float32))
    bias = b.const("b", (rng.standard_normal(c) * 0.1).astype(np.float32))
    y = b.op("Conv", [x, w, bias], name="dw", group=c, strides=stride, pads=(k // 2,) * 4,
             kernel_shape=(k, k))  # fmt: skip
    b.output(b.op("Relu", [y]))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["dw"] and not model.meta["fallbacks"]
    (la,) = model.accel_launches()
    oh, ow = (6 + 2 * (k // 2) - k) // stride[0] + 1, (13 + 2 * (k // 2) - k) // stride[1] + 1
    assert la.macs == c * oh * ow * k * k
    feed = samples(g, 1, seed=9)[0]
    res = _corun_checked(model, feed)
    out = res.outputs[g.outputs[0]]
    assert out.shape == (1, c, oh, ow) and 0 < np.count_nonzero(out) < out.size
    assert np.abs(out - run_graph(g, feed)[g.outputs[0]]).max() < 0.1 * np.abs(out).max()


def test_conv_with_non_square_kernel_and_unequal_strides_is_bit_exact(cfg):
    """Dense (group 1) convs: a 3x3 with 2x1 strides, then a 3x5 kernel with 1x2 strides."""
    rng = np.random.default_rng(6)
    b = GraphBuilder("rect_conv", opset=13)
    x = b.input("x", (1, 16, 12, 12))
    w1 = b.const("w1", (rng.standard_normal((24, 16, 3, 3)) * 0.2).astype(np.float32))
    w2 = b.const("w2", (rng.standard_normal((16, 24, 3, 5)) * 0.2).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, w1], name="c21", strides=(2, 1), pads=(1,) * 4)])
    b.output(b.op("Conv", [y, w2], name="c35", strides=(1, 2), pads=(1,) * 4))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["c21", "c35"]
    assert not model.meta["fallbacks"]
    out, want = _corun_vs_float(model, g, seed=2)
    assert out.shape == (1, 16, 6, 5)
    assert np.abs(out - want).max() <= 0.1 * np.abs(want).max()


def test_non_square_average_pool_is_bit_exact(cfg):
    """A 3x2 window with 2x1 strides; the global pool over its non-square output stays on the
    CPU (avgpool_as_conv says why)."""
    rng = np.random.default_rng(4)
    b = GraphBuilder("rect", opset=13)
    x = b.input("x", (1, 16, 11, 14))
    w = b.const("w", (rng.standard_normal((24, 16, 1, 1)) * 0.3).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, w], name="pw")])
    y = b.op("AveragePool", [y], name="ap", kernel_shape=(3, 2), strides=(2, 1))
    b.output(b.op("GlobalAveragePool", [y], name="gap"))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["pw", "ap"]
    out, want = _corun_vs_float(model, g, seed=3)
    assert out.shape == (1, 24, 1, 1)
    assert np.abs(out - want).max() <= 0.05 * np.abs(want).max()


def test_average_pools_and_global_pool_are_bit_exact(cfg):
    rng = np.random.default_rng(1)
    b = GraphBuilder("pool", opset=13)
    x = b.input("x", (1, 24, 14, 14))
    w = b.const("w", (rng.standard_normal((32, 24, 1, 1)) * 0.3).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, w], name="pw")])
    y = b.op("AveragePool", [y], name="ap", kernel_shape=(3, 3), strides=(2, 2), pads=(1,) * 4,
             count_include_pad=1)  # fmt: skip
    y = b.op("AveragePool", [y], name="ap5", kernel_shape=(5, 5), pads=(2,) * 4,
             count_include_pad=1)  # fmt: skip
    b.output(b.op("GlobalAveragePool", [y], name="gap"))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["pw", "ap", "ap5", "gap"]
    out, want = _corun_vs_float(model, g, seed=4)
    assert np.abs(out - want).max() <= 0.05 * np.abs(want).max()


def test_hardsigmoid_and_clip_epilogues_are_bit_exact(cfg):
    rng = np.random.default_rng(2)
    b = GraphBuilder("acts", opset=13)
    x = b.input("x", (1, 16, 8, 8))
    w1 = b.const("w1", (rng.standard_normal((24, 16, 3, 3)) * 0.2).astype(np.float32))
    w2 = b.const("w2", (rng.standard_normal((16, 24, 1, 1)) * 0.3).astype(np.float32))
    y = b.op("Conv", [x, w1], name="c1", pads=(1,) * 4)
    y = b.op("Clip", [y, b.const("lo", np.float32(-1.0)), b.const("hi", np.float32(2.5))])
    y = b.op("Conv", [y, w2], name="c2")
    b.output(b.op("HardSigmoid", [y], name="hsig", alpha=1 / 6, beta=0.5))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["c1", "c2"]
    feed = samples(g, 1, seed=5)[0]
    res = _corun_checked(model, feed)
    out, want = res.outputs[g.outputs[0]], run_graph(g, feed)[g.outputs[0]]
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(out - want).max() <= 0.05


@pytest.mark.parametrize("fuse", [False, True])
def test_mobilenet_block_runs_on_the_accelerator_bit_exact(cfg, fuse):
    g, model = mobilenet_block(cfg.name, fuse)
    # pointwise, depthwise, pointwise (+ residual), the average pool: all on the accelerator
    # (merged into one stream with `fuse_accel`)
    names = ["expand", "dw", "project", "expand2", "dw2", "project2", "gap"]
    if fuse:
        (la,) = model.accel_launches()
        assert [n.name for n in la.ref_nodes if n.op == "vtac.conv2d"] == names
    else:
        assert [la.name for la in model.accel_launches()] == names
    assert not model.meta["fallbacks"] and not model.meta["quant"]["kept_float"]
    feed = samples(g, 1, seed=6)[0]
    res = _corun_checked(model, feed)
    ints = [v for v in res.values.values() if v.dtype.kind in "iu"]
    assert any(np.count_nonzero(v) > v.size // 4 for v in ints)
    # the CPU only converts and repacks at the two ends
    assert {n.op for la in model.cpu_launches() for n in la.nodes} <= {
        "vtac.quantize", "vtac.dequantize", "vtac.pack", "vtac.unpack", "Flatten", "Reshape"
    }  # fmt: skip
    want = run_graph(g, feed)[g.outputs[0]]
    out = res.outputs[g.outputs[0]]
    assert np.abs(out - want).max() <= 0.1 * np.abs(want).max()


def test_leaky_relu_and_prelu_are_bit_exact(cfg):
    rng = np.random.default_rng(3)
    b = GraphBuilder("leaky", opset=13)
    x = b.input("x", (1, 24, 8, 8))
    w = b.const("w", (rng.standard_normal((32, 24, 3, 3)) * 0.2).astype(np.float32))
    y = b.op("Conv", [x, w], name="c1", pads=(1,) * 4)
    y = b.op("LeakyRelu", [y], name="leaky", alpha=0.1)
    w2 = b.const("w2", (rng.standard_normal((24, 32, 1, 1)) * 0.3).astype(np.float32))
    slope = b.const("slope", rng.uniform(0, 0.5, (24, 1, 1)).astype(np.float32))
    b.output(b.op("PRelu", [b.op("Conv", [y, w2], name="c2"), slope], name="prelu"))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["c1", "leaky_slope", "c2", "prelu_slope"]
    assert [la.ops for la in model.accel_launches()][1] == [
        "vtac.conv2d", "vtac.max", "vtac.requantize"
    ]  # fmt: skip
    feed = samples(g, 1, seed=8)[0]
    res = _corun_checked(model, feed)
    out, want = res.outputs[g.outputs[0]], run_graph(g, feed)[g.outputs[0]]
    assert (out < 0).mean() > 0.2  # the negative slope is exercised
    assert np.abs(out - want).max() <= 0.05 * np.abs(want).max()


def test_depthwise_batch_two_with_residual_and_three_channels_is_bit_exact(cfg):
    """Batch 2, a residual add fused into a 5x5 depthwise conv's epilogue (40 channels: padded
    at the default BLOCK), and a 3-channel stride-2 depthwise conv on a CPU-produced slice."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("edge", opset=13)
    x = b.input("x", (2, 40, 9, 9))
    w = b.const("w", (rng.standard_normal((40, 1, 5, 5)) * 0.2).astype(np.float32))
    y = b.op("Conv", [x, w], name="dw", group=40, pads=(2,) * 4, kernel_shape=(5, 5))
    y = b.op("Relu", [b.op("Add", [y, x], name="res")])
    starts, ends, axes = (b.const(n, np.array([v])) for n, v in (("s", 0), ("e", 3), ("a", 1)))
    z = b.op("Slice", [y, starts, ends, axes])
    w2 = b.const("w2", (rng.standard_normal((3, 1, 3, 3)) * 0.2).astype(np.float32))
    z = b.op("Conv", [z, w2], name="dw3", group=3, strides=(2, 2), pads=(1,) * 4,
             kernel_shape=(3, 3))  # fmt: skip
    b.output(y, z)
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert [(la.name, la.ops) for la in model.accel_launches()] == [
        ("dw", ["vtac.conv2d", "vtac.add", "vtac.requantize"]),
        ("dw3", ["vtac.conv2d", "vtac.requantize"]),
    ]
    _corun_checked(model, samples(g, 1, seed=3)[0])
