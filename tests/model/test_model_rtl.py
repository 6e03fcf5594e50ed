"""A whole model on the Verilated RTL: the same outputs and the same cycles as on hw_sim."""

from __future__ import annotations

import pytest

from compiler.driver.compile_model import compile_model
from compiler.models import resnet18
from hw_sim.config import load_config
from tests.model.helpers import run_on_rtl_and_hw_sim, samples

pytestmark = pytest.mark.rtl


def test_small_resnet_on_rtl_equals_hw_sim():
    cfg = load_config("small")
    g = resnet18(seed=2, image=16, width=8, classes=10)
    model = compile_model(g, cfg, samples(g, 2), fuse_accel=True)
    feed = samples(g, 1, seed=6)[0]
    run_on_rtl_and_hw_sim(model, feed)


def test_mobilenet_block_on_rtl_equals_hw_sim():
    """Depthwise convs (block-diagonal GEMMs), a residual, a global average pool and a
    LeakyRelu (1x1 depthwise conv + tensor MAX) on the RTL: same outputs and cycles."""
    from tests.model.helpers import mobilenet_block_graph

    cfg = load_config("small")
    g = mobilenet_block_graph(seed=4, c=8, expand=2, image=8, leaky=0.125)
    model = compile_model(g, cfg, samples(g, 2), fuse_accel=True)
    ops = {op for la in model.accel_launches() for op in la.ops}
    assert {"vtac.conv2d", "vtac.add", "vtac.max", "vtac.requantize"} <= ops
    feed = samples(g, 1, seed=6)[0]
    run_on_rtl_and_hw_sim(model, feed)
