"""Fixed-point requantization with the ALU's MUL on the accelerator (configs with ALU_MUL):
conv, grouped conv, dense and a residual add with free per-channel weight scales, bit-exact
on hw_sim against the reference executor; the only portability finding is the MUL itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.driver.lower_group import lower_group
from compiler.graph.passes.fuse_ops import group_table
from compiler.graph.pipeline import compile_for_accel
from hw_sim.isa import AluOp
from hw_sim.portability import check_portable
from runtime.executor import compare_integer_values, reference_values
from tests.model.helpers import run_keeping_launch_images
from tests.model.test_per_channel_sim import _model, _samples


@pytest.mark.sim
def test_mul_requantized_model_is_bit_exact(cfg, rng):
    cfg = dataclasses.replace(cfg, ALU_MUL=True)
    c = 2 * cfg.block  # grouped conv: whole blocks per group
    g = _model(rng, c)
    calib = _samples(g, rng, 2)
    res = compile_for_accel(g, cfg, calib, requant="mul")
    pg = res.graph
    # the grouped conv's output feeds only conv3: a free (non-power-of-two) scale
    free = {layer.anchor for layer in res.plan.layers if not float(layer.exp_out).is_integer()}
    assert "gconv" in free and "conv1" not in free  # conv1's output is also a residual
    by_name = {n.name: n for n in pg.nodes}
    kinds = []
    for _gid, names in group_table(pg):
        nodes = [by_name[n] for n in names]
        if nodes[0].target == "accel":
            steps = lower_group(pg, nodes, cfg).op.steps
            assert ("mul_chan",) in steps, (nodes[0].name, steps)
            kinds.append((nodes[0].name, ("shr_chan",) in steps))
    # every GEMM group multiplies; the pool's equal 1/N weights need no per-channel pre-shift
    assert dict(kinds)["gap"] is False and sum(k for _, k in kinds) == 4
    model = compile_model(g, cfg, calib, quant_options={"requant": "mul"})
    assert not model.meta["fallbacks"] and len(model.accel_launches()) == 5
    feed = _samples(g, rng, 1)[0]
    res, before = run_keeping_launch_images(model, feed)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    ints = [v for v in res.values.values() if v.dtype == np.int8]
    assert any(np.count_nonzero(v) > v.size // 4 for v in ints)
    for i, dram in before.items():
        prog = model.launches[i].program
        report = check_portable(prog, dram=dram)
        broken = {r for r, n in report.counts.items() if n}
        assert report.dram_equal and broken == {"alu-subset"}, report.summary()
        assert all(prog.insns[v.index].alu_op == AluOp.MUL for v in report.violations)


@pytest.mark.sim
def test_without_alu_mul_nothing_multiplies(default_cfg, rng):
    g = _model(rng, 32)
    model = compile_model(g, default_cfg, _samples(g, rng, 2))
    for launch in model.accel_launches():
        assert all(getattr(i, "alu_op", None) != AluOp.MUL for i in launch.program.insns)
