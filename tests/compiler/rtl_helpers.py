"""What the RTL tests share."""

from __future__ import annotations

import numpy as np

from runtime.device import get_device


def run_on_hw_sim_and_rtl(cfg, kern, **inputs):
    """`kern.run` on hw_sim and on the Verilated RTL: the outputs must be equal and so must
    every cycle counter. Returns the output."""
    ys, ss = kern.run(get_device("hw_sim", cfg), **inputs)
    yr, sr = kern.run(get_device("rtl", cfg), **inputs)
    np.testing.assert_array_equal(ys, yr)
    assert ss.diff(sr) == []
    return ys
