"""Max pooling and nearest ×2 upsampling on the Verilated RTL: same output and the same cycle and
module counters as on hw_sim (and bit-exact against the reference), at both configs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.ref.vtac_pool import maxpool_hw
from compiler.vta.build import build
from compiler.vta.maxpool import maxpool_op
from compiler.vta.upsample import upsample2x_op
from tests.compiler.rtl_helpers import run_on_hw_sim_and_rtl

pytestmark = pytest.mark.rtl


def test_maxpool_sppf_and_strided_on_rtl(cfg, rng):
    for shape, k, s, p in [((1, 2 * cfg.block, 6, 6), (5, 5), (1, 1), (2, 2, 2, 2)),
                           ((1, cfg.block, 7, 5), (3, 3), (2, 2), (1, 1, 1, 1))]:  # fmt: skip
        x = rng.integers(-128, 128, shape).astype(np.int8)
        y = run_on_hw_sim_and_rtl(cfg, build(maxpool_op(cfg, shape, k, s, p), cfg), data=x)
        np.testing.assert_array_equal(y, maxpool_hw(x, 2, k, s, p))


def test_upsample2x_on_rtl(cfg, rng):
    shape = (1, 2 * cfg.block, 4, 5)
    x = rng.integers(-128, 128, shape).astype(np.int8)
    y = run_on_hw_sim_and_rtl(cfg, build(upsample2x_op(cfg, shape), cfg), data=x)
    np.testing.assert_array_equal(y, x.repeat(2, axis=2).repeat(2, axis=3))
