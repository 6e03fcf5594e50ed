"""Sub-pixel ConvTranspose (kernel == stride) compiled as a whole model and co-run on hw_sim:
the 1x1 conv on the accelerator, the interleave as int8 data movement on the CPU, the integer
path bit-exact with the graph's reference executor at both configs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from tests.model.helpers import samples
from tests.model.test_depthwise_sim import _corun_checked

pytestmark = pytest.mark.sim


def _f32(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _det_head(cin=24, mid=20, s=2, seed=0):
    """PP-OCR-det's head, small: conv -> ConvTranspose -> Add(bias) -> BN -> Relu ->
    ConvTranspose(-> 1 channel) -> Add(bias) -> Sigmoid."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("head", opset=13)
    x = b.input("x", (1, 16, 6, 7))
    y = b.op("Relu", [b.op("Conv", [x, b.const("w0", _f32(rng, cin, 16, 3, 3))], name="c0",
                           pads=(1,) * 4)])  # fmt: skip
    y = b.op("ConvTranspose", [y, b.const("w1", _f32(rng, cin, mid, s, s))], name="up1",
             kernel_shape=(s, s), strides=(s, s))  # fmt: skip
    y = b.op("Add", [y, b.const("b1", _f32(rng, 1, mid, 1, 1))])
    bn = [_f32(rng, mid) + 1, _f32(rng, mid), _f32(rng, mid), np.abs(_f32(rng, mid)) + 0.5]
    y = b.op("BatchNormalization", [y, *(b.const(f"bn{i}", v) for i, v in enumerate(bn))])
    y = b.op("Relu", [y])
    y = b.op("ConvTranspose", [y, b.const("w2", _f32(rng, mid, 1, s, s))], name="up2",
             kernel_shape=(s, s), strides=(s, s))  # fmt: skip
    y = b.op("Add", [y, b.const("b2", _f32(rng, 1, 1, 1, 1))])
    b.output(b.op("Sigmoid", [y], name="prob"))
    return b.build()


@pytest.mark.parametrize("s", [2, 3])
def test_subpixel_convtransposes_run_on_the_accelerator_bit_exact(cfg, s):
    g = _det_head(s=s)
    model = compile_model(g, cfg, samples(g, 2))
    assert [la.name for la in model.accel_launches()] == ["c0", "up1", "up2"]
    assert not model.meta["fallbacks"]
    up1 = model.accel_launches()[1]
    assert up1.macs == 24 * 20 * s * s * 6 * 7  # the ConvTranspose's own MACs
    # the interleave: int8 reshape / transpose on the CPU, no float round trip
    moves = [n for la in model.cpu_launches() for n in la.nodes if n.op == "Transpose"]
    assert len(moves) == 2
    feed = samples(g, 1, seed=5)[0]
    res = _corun_checked(model, feed)
    out, want = res.outputs[g.outputs[0]], run_graph(g, feed)[g.outputs[0]]
    assert out.shape == (1, 1, 6 * s * s, 7 * s * s)
    err = np.abs(out - want)  # int8 through three layers, calibrated on two random inputs
    assert err.mean() <= 0.02 and err.max() <= 0.2
