"""Every accelerator launch of a whole model computes the same under VTA's three OUT-buffer
semantics (Chisel, HLS, fsim) and in fsim's order, on the DRAM image it really starts from."""

from __future__ import annotations

import pytest

from compiler.driver.model import AccelLaunch
from hw_sim.portability import check_portable
from runtime.executor import Executor
from tests.model.helpers import samples, small_resnet

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("fuse", [False, True])
def test_whole_model_launches_are_portable(cfg, fuse):
    g, model = small_resnet(cfg.name, fuse)
    ex = Executor(model)
    before = {}  # launch index -> the DRAM image it starts from
    state = {"i": 0}

    def snapshot(_rec):
        state["i"] += 1
        if state["i"] < len(model.launches) and isinstance(model.launches[state["i"]], AccelLaunch):
            before[state["i"]] = ex.dram.copy()

    ex.run(samples(g, 1, seed=8)[0], on_launch=snapshot)
    assert len(before) == len(model.accel_launches())
    for i, dram in before.items():
        report = check_portable(model.launches[i].program, dram=dram)
        assert report.portable, f"{model.launches[i].name}: {report.summary()}"
