"""HardSwish and a squeeze-excite Mul on the Verilated RTL at the `mul` config (default + the
ALU's MUL): same output and the same cycle and module counters as on hw_sim, and bit-exact
against the graph's reference semantics."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.lower_group import _requantize_steps
from compiler.graph.hardswish_int import hardswish_int, reference
from compiler.graph.ir import Node
from compiler.graph.ref.vtac_ops import requantize_array
from compiler.vta.build import build
from compiler.vta.mul_ops import hardswish_op, mul_op
from hw_sim.config import load_config
from tests.compiler.rtl_helpers import run_on_hw_sim_and_rtl

pytestmark = pytest.mark.rtl


def _steps(shift: int) -> list[tuple]:
    node = Node("r", "vtac.requantize", ("a",), ("b",), {"shift": shift, "lo": -128, "hi": 127})
    return _requantize_steps(node)


def test_hardswish_and_gate_mul_on_rtl(rng):
    cfg = load_config("mul")
    assert cfg.ALU_MUL
    shape = (1, 2 * cfg.block, 4, 5)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    x.reshape(-1)[:256] = np.arange(-128, 128)
    hs = hardswish_int(-4, -4)
    args = (hs.offset, hs.six, hs.mult, hs.pre_shift, hs.bias)
    op = hardswish_op(cfg, shape, *args, _steps(hs.shift))
    np.testing.assert_array_equal(run_on_hw_sim_and_rtl(cfg, build(op, cfg), a=x), reference(x, hs))
    gate = rng.integers(0, 128, (*shape[:2], 1, 1)).astype(np.int8)
    op = mul_op(cfg, shape, gate.shape, _steps(7))
    want = requantize_array(x.astype(np.int64) * gate, 7, -128, 127)
    np.testing.assert_array_equal(run_on_hw_sim_and_rtl(cfg, build(op, cfg), a=x, b=gate), want)
