"""A whole model on the Verilated RTL: the same outputs and the same cycles as on hw_sim."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.models import resnet18
from hw_sim.config import load_config
from runtime.executor import Executor
from tests.model.helpers import samples

pytestmark = pytest.mark.rtl


def test_small_resnet_on_rtl_equals_hw_sim():
    cfg = load_config("small")
    g = resnet18(seed=2, image=16, width=8, classes=10)
    model = compile_model(g, cfg, samples(g, 2), fuse_accel=True)
    feed = samples(g, 1, seed=6)[0]
    sim = Executor(model, "hw_sim").run(feed)
    rtl = Executor(model, "rtl").run(feed)
    for k in sim.outputs:
        np.testing.assert_array_equal(rtl.outputs[k], sim.outputs[k])
    for a, b in zip(sim.launches, rtl.launches, strict=True):
        assert a.cycles == b.cycles, a.name
        if a.stats is not None:
            assert a.stats.diff(b.stats) == [], a.name
