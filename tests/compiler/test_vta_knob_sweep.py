"""Any knob setting from the search space compiles and runs bit-exact (the tuner relies on it).

Random small conv2d / grouped conv2d / dense workloads, each with a random fitting knob setting
(`candidates`), on hw_sim at both configs, each also portable (`run_portable`); `VTAC_SWEEP`
scales the number of cases.
"""

from __future__ import annotations

import numpy as np
import pytest
from vta_portable import run_portable
from vta_refs import conv2d_nchw, epilogue, random_conv_inputs

from compiler.schedule.vta_heuristic import candidates
from compiler.vta.build import build
from compiler.vta.ops import conv2d_op, dense_op
from tests.conftest import sweep_size

pytestmark = pytest.mark.sim


def _pick(rng, op, cfg):
    cands = candidates(op, cfg, vthreads=bool(rng.integers(0, 2)))
    assert cands, f"{op.name}: no fitting knobs"
    return cands[int(rng.integers(len(cands)))]


def test_random_conv_schedules(cfg, rng):
    for _ in range(sweep_size(6)):
        n = int(rng.choice([1, 2]))
        ci = int(rng.choice([cfg.block_in, 2 * cfg.block_in, 5]))
        co = int(rng.choice([cfg.block_out, 3 * cfg.block_out, 7]))
        k = int(rng.choice([1, 3]))
        s = int(rng.choice([1, 2]))
        h = int(rng.integers(k, 10))
        pad = int(rng.integers(0, (k - 1) // 2 + 1))
        bias_on = str(rng.choice(["gemm", "alu"]))
        op = conv2d_op(cfg, n, ci, h, h, co, k, s, pad, bias_on=bias_on)
        knobs = _pick(rng, op, cfg)
        x, w, b, _ = random_conv_inputs(rng, n, ci, h, h, co, k)
        y, _ = run_portable(build(op, cfg, knobs), data=x, kernel=w, bias=b)
        ref = epilogue(conv2d_nchw(x, w, s, pad), b)
        assert (y == ref).all(), f"conv {n, ci, h, co, k, s, pad} {bias_on} with {knobs}"


def test_random_grouped_and_dense_schedules(cfg, rng):
    for _ in range(sweep_size(4)):
        g = int(rng.choice([2, 4]))
        cpg = cfg.block_in * int(rng.integers(1, 3))
        h, s = int(rng.integers(3, 9)), int(rng.integers(1, 3))
        op = conv2d_op(cfg, 1, g * cpg, h, h, g * cpg, 3, s, 1, groups=g)
        knobs = _pick(rng, op, cfg)
        x, w, b, _ = random_conv_inputs(rng, 1, g * cpg, h, h, g * cpg, 3, g)
        y, _ = run_portable(build(op, cfg, knobs), data=x, kernel=w, bias=b)
        assert (y == epilogue(conv2d_nchw(x, w, s, 1, g), b)).all(), f"group {g} {knobs}"

        n, k, m = (int(v) for v in rng.integers(1, 40, 3))
        op = dense_op(cfg, n, k, m, bias=True)
        knobs = _pick(rng, op, cfg)
        x = rng.integers(-128, 128, (n, k)).astype(np.int8)
        w = rng.integers(-128, 128, (m, k)).astype(np.int8)
        b = rng.integers(-(2**14), 2**14, (m,)).astype(np.int32)
        y, _ = run_portable(build(op, cfg, knobs), data=x, kernel=w, bias=b)
        ref = epilogue(x.astype(np.int64) @ w.astype(np.int64).T, b)
        assert (y == ref).all(), f"dense {n, k, m} with {knobs}"
