"""Every accelerator launch of a whole model computes the same under VTA's three OUT-buffer
semantics (Chisel, HLS, fsim) and in fsim's order, on the DRAM image it really starts from."""

from __future__ import annotations

import pytest

from hw_sim.portability import check_portable
from tests.model.helpers import run_keeping_launch_images, samples, small_resnet

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("fuse", [False, True])
def test_whole_model_launches_are_portable(cfg, fuse):
    g, model = small_resnet(cfg.name, fuse)
    _, before = run_keeping_launch_images(model, samples(g, 1, seed=8)[0], keep_values=False)
    assert len(before) == len(model.accel_launches())
    for i, dram in before.items():
        report = check_portable(model.launches[i].program, dram=dram)
        assert report.portable, f"{model.launches[i].name}: {report.summary()}"
