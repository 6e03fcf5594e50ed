"""The accelerator's int32 semantics of an epilogue step list (`compiler/vta/ops.py`), in
NumPy, for tests of the epilogue planners: per-channel vectors along axis 1."""

from __future__ import annotations

import numpy as np


def run_alu_steps(steps, acc, bias=None, shift_row=None, mult_row=None, residual=None):
    """`acc` through `steps` in int64; asserts that no step leaves int32 (nothing wraps)."""
    x = acc.astype(np.int64)
    for st in steps:
        if st[0] == "bias":
            x = x + bias.reshape(1, -1)
        elif st[0] == "shr_chan":
            x = x >> shift_row.reshape(1, -1)
        elif st[0] == "mul_chan":
            x = x * mult_row.reshape(1, -1)
        elif st[0] == "shr":
            x = x >> st[1] if st[1] >= 0 else x << -st[1]
        elif st[0] == "add_imm":
            x = x + st[1]
        elif st[0] == "residual":
            x = x + (residual.astype(np.int64) << st[1])
        elif st[0] == "clip":
            x = np.clip(x, st[1], st[2])
        else:
            raise AssertionError(st)
        assert np.abs(x).max() < 2**31, st
    return x
