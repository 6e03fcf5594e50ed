"""Every hw_sim example program runs on the RTL with identical DRAM, total cycles, counters and
per-instruction timing, and with the NumPy-expected results."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.examples import EXAMPLES
from runtime.device import get_device
from runtime.rtl_crosscheck import crosscheck

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_agrees_with_hw_sim(cfg, name):
    prog, expected = EXAMPLES[name](cfg, np.random.default_rng(7))
    res = crosscheck(prog)
    assert res.ok, res.report()
    assert res.hw_cycles == res.rtl_cycles > 0
    for buf, want in expected.items():
        assert np.array_equal(prog.read_buffer(res.rtl_dram, buf), want), f"{name}: {buf}"


def test_rtl_device_runs_like_hw_sim(cfg):
    """The RTL device has the hw_sim device's interface: load, write, run, read."""
    prog, expected = EXAMPLES["gemm"](cfg, np.random.default_rng(3))
    results = {}
    for name in ("hw_sim", "rtl"):
        dev = get_device(name, cfg)
        dev.load(prog)
        stats = dev.run()
        results[name] = (stats.counters(), {k: dev.read(k) for k in expected})
    assert results["hw_sim"][0] == results["rtl"][0]
    for k, want in expected.items():
        assert np.array_equal(results["rtl"][1][k], want), k
