"""HardSwish, a squeeze-excite gate and an element-wise Mul compiled as a whole model with the
ALU's MUL (configs with ALU_MUL), co-run on hw_sim at both configs: every HardSwish and Mul
on the accelerator, the integer path bit-exact with the graph's reference executor, every
launch portable but for its MUL micro-ops; without MUL the partition keeps them on the CPU."""

from __future__ import annotations

import pytest

from compiler.driver.compile_model import compile_model
from compiler.graph.pipeline import compile_for_accel
from runtime.executor import Executor, compare_integer_values, launch_mismatches, reference_values
from tests.compiler.mul_portable import assert_portable_but_mul
from tests.model.helpers import run_keeping_launch_images, samples
from tests.model.mul_blocks import affine_block, mul_block, mul_config

pytestmark = pytest.mark.sim

# the HardSwishes join their convs' epilogues (c1, c2); the Muls are their own launches
MUL_LAUNCHES = {"c1", "se_mul", "c2", "mul2"}
INT8_GATES = {"float_squeeze_excite": False}  # the squeeze-excite gate int8 (vtac.mul)


@pytest.mark.parametrize("requant", ["shift", "mul"])
@pytest.mark.parametrize("config", ["default", "small"])
def test_mul_block_runs_hardswish_and_mul_on_the_accelerator(config, requant):
    """With shift requantization only HardSwish / Mul multiply; with the fixed-point one every
    conv's epilogue does, and HardSwish / Mul of free-scale values stay on the CPU (the
    integer formulas take power-of-two grids)."""
    cfg = mul_config(config)
    g = mul_block()
    options = {**INT8_GATES, "requant": requant}
    model = compile_model(g, cfg, samples(g, 2), quant_options=options)
    accel = {la.name for la in model.accel_launches()}
    assert {"c1", "c2"} <= accel and not model.meta["fallbacks"]
    ops = {la.name: la.ops for la in model.accel_launches()}
    mul_launches = set(model.meta["alu_mul_launches"])
    if requant == "shift":
        assert "vtac.hardswish" in ops["c1"] and "vtac.hardswish" in ops["c2"], ops
        assert mul_launches == MUL_LAUNCHES
    else:
        assert not any("vtac.hardswish" in o or "vtac.mul" in o for o in ops.values()), ops
        assert mul_launches == accel
    feed = samples(g, 1, seed=3)[0]
    res, before = run_keeping_launch_images(model, feed)
    assert launch_mismatches(model, res.values) == []  # every launch on its own inputs
    if requant == "shift":  # end to end too: no float CPU op in between
        assert compare_integer_values(res.values, reference_values(model, feed)) == []
    for i, dram in before.items():
        la = model.launches[i]
        muls = assert_portable_but_mul(la.program, dram, la.name)
        assert (muls > 0) == (la.name in mul_launches), la.name


@pytest.mark.parametrize("config", ["default", "small"])
def test_without_mul_hardswish_and_mul_stay_on_the_cpu(config):
    from hw_sim.config import load_config

    g = mul_block()
    graph = compile_for_accel(g, load_config(config), samples(g, 2)).graph
    ops = {n.op for n in graph.nodes}
    assert not ops & {"vtac.hardswish", "vtac.mul"}
    for n in graph.nodes:
        if n.op in ("HardSwish", "Mul"):
            assert n.target == "cpu" and "needs the ALU's MUL" in n.reason, (n.name, n.reason)
            assert "--config mul" in n.reason and "Chisel/HLS" in n.reason


@pytest.mark.parametrize("config", ["default", "small"])
def test_det_style_affines_fold_and_hardswish_runs_on_the_accelerator(config):
    """Conv -> Mul -> Add folds into the conv, HardSwish -> Mul -> Add into the HardSwish's
    integer formula: no float op is left between the convs."""
    g = affine_block()
    shift = {"requant": "shift"}  # the integer formula's power-of-two grids
    model = compile_model(g, mul_config(config), samples(g, 2), quant_options=shift)
    ops = {la.name: la.ops for la in model.accel_launches()}
    assert not model.meta["fallbacks"]
    assert [o.count("vtac.hardswish") for o in ops.values()] == [1, 1, 0], ops
    cpu_ops = {op for la in model.cpu_launches() for op in la.ops}
    assert not cpu_ops & {"Mul", "Add", "HardSwish", "Clip", "Div"}, cpu_ops
    feed = samples(g, 1, seed=4)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    assert launch_mismatches(model, res.values) == []
