"""Per-channel requantization on the accelerator: conv, grouped conv, dense and a residual add
whose accumulators carry per-channel exponents, bit-exact on hw_sim against the reference
executor, every launch portable; and the step lists' integer semantics."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.driver.lower_group import LoweringError, lower_group
from compiler.driver.per_channel_epilogue import (
    PerChannelError,
    align_steps,
    fold_channel_steps,
    requantize_steps,
)
from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.fuse_ops import group_table
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.ref.vtac_ops import requantize_array, round_shift_right
from hw_sim.portability import check_portable
from runtime.executor import compare_integer_values, reference_values
from tests.graph.alu_steps import run_alu_steps
from tests.model.helpers import run_keeping_launch_images


def _model(rng, c: int):
    """conv(+bias) -> relu -> grouped conv (no bias) -> relu -> conv + residual -> relu ->
    global pool -> dense; output channels' weight ranges spread over 2**-6 .. 2**1."""
    b = GraphBuilder("pc")
    x = b.input("x", (1, c, 8, 8))

    def w(shape):
        scale = 2.0 ** rng.uniform(-6, 1, shape[0])
        return rng.standard_normal(shape) * scale.reshape((-1,) + (1,) * (len(shape) - 1))

    y = b.op("Conv", [x, b.const("w1", w((c, c, 3, 3)).astype(np.float32)),
                      b.const("b1", rng.standard_normal(c).astype(np.float32))],
             pads=(1, 1, 1, 1), name="conv1")  # fmt: skip
    r = b.op("Relu", [y], name="relu1")
    y = b.op("Conv", [r, b.const("w2", w((2 * c, c // 2, 3, 3)).astype(np.float32))],
             pads=(1, 1, 1, 1), group=2, name="gconv")  # fmt: skip
    y = b.op("Relu", [y], name="relu2")
    y = b.op("Conv", [y, b.const("w3", w((c, 2 * c, 1, 1)).astype(np.float32))], name="conv3")
    y = b.op("Relu", [b.op("Add", [y, r], name="add")], name="relu3")
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y], name="gap")], name="flat")
    y = b.op("Gemm", [y, b.const("fc", w((10, c)).astype(np.float32)),
                      b.const("fcb", rng.standard_normal(10).astype(np.float32))],
             transB=1, name="fc", out="y")  # fmt: skip
    b.output(y)
    return b.build()


def _samples(g, rng, n):
    return [{"x": rng.standard_normal(g.types["x"].shape).astype(np.float32)} for _ in range(n)]


@pytest.mark.sim
def test_per_channel_model_is_bit_exact_and_portable(cfg, rng):
    c = 2 * cfg.block  # grouped conv: whole blocks per group
    g = _model(rng, c)
    calib = _samples(g, rng, 2)
    # The groups really are per channel: conv, grouped conv, dense, and the residual's align.
    pg = compile_for_accel(g, cfg, calib).graph
    by_name = {n.name: n for n in pg.nodes}
    kinds = []
    for _gid, names in group_table(pg):
        nodes = [by_name[n] for n in names]
        if nodes[0].target == "accel":
            op = lower_group(pg, nodes, cfg).op
            if op.name == "gap":  # the global pool: equal 1/N weights, so one exponent, no row
                assert ("shr_chan",) not in op.steps, op.steps
                continue
            assert ("shr_chan",) in op.steps, (op.name, op.steps)
            assert not any(st[0] == "add_imm" for st in op.steps)  # rounding rides on the bias
            kinds.append((op.kind, any(n.op == "vtac.add" for n in nodes)))
    assert sorted(kinds) == sorted([("conv2d", False), ("group_conv2d", False),
                                    ("conv2d", True), ("dense", False)])  # fmt: skip
    model = compile_model(g, cfg, calib)
    assert not model.meta["fallbacks"] and len(model.accel_launches()) == 5  # + the pool
    feed = _samples(g, rng, 1)[0]
    res, before = run_keeping_launch_images(model, feed)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    ints = [v for v in res.values.values() if v.dtype == np.int8]
    assert any(np.count_nonzero(v) > v.size // 4 for v in ints)
    for i, dram in before.items():
        report = check_portable(model.launches[i].program, dram=dram)
        assert report.portable, f"{model.launches[i].name}: {report.summary()}"


@pytest.mark.sim
def test_per_tensor_option_builds_no_shift_row(default_cfg, rng):
    g = _model(rng, 32)
    pg = compile_for_accel(g, default_cfg, _samples(g, rng, 2), per_channel=False).graph
    by_name = {n.name: n for n in pg.nodes}
    for _gid, names in group_table(pg):
        nodes = [by_name[n] for n in names]
        if nodes[0].target == "accel":
            assert ("shr_chan",) not in lower_group(pg, nodes, default_cfg).op.steps


RESIDUAL = np.random.default_rng(3).integers(-128, 128, (400, 12)).astype(np.int8)


@pytest.mark.parametrize("shift", [0, 1, 6, 14, 20, 23])
def test_requantize_steps_fold_exactly(shift, rng):
    extra = rng.integers(0, 8, 12)
    extra[0] = 0
    acc = rng.integers(-(2**24), 2**24, (400, 12))
    bias = rng.integers(-1000, 1000, 12)
    steps = requantize_steps("rq", shift, extra, -128, 127)
    ch = fold_channel_steps([("bias",), *steps], 12, "g")
    assert [st[0] for st in ch.steps][:2] == ["bias", "shr_chan"]
    assert all(0 <= v <= 15 for v in ch.shift_row)
    assert all(0 < st[1] <= 15 for st in ch.steps if st[0] == "shr")
    got = run_alu_steps(ch.steps, acc, bias + ch.bias_add, ch.shift_row).astype(np.int8)
    want = requantize_array(acc + bias, shift + extra.reshape(1, -1), -128, 127)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("sa", [0, 2])
def test_align_residual_requantize_fold_exactly(sa, rng):
    k = rng.integers(0, 16, 12)
    acc = rng.integers(-(2**24), 2**24, (400, 12))
    s = 9
    steps = [*align_steps("add", k), ("shr", -sa), ("residual", 1),
             ("add_imm", 1 << (s - 1)), ("shr", s), ("clip", 0, 127)]  # fmt: skip
    steps = [st for st in steps if st != ("shr", 0)]
    ch = fold_channel_steps(steps, 12, "g")  # no bias: a zero one is made
    assert ch.zero_bias and ch.steps[0] == ("bias",)
    # the final rounding folds through the per-channel shift unless a left shift is between
    assert any(st[0] == "add_imm" for st in ch.steps) == (sa > 0 and s - 1 < sa)
    got = run_alu_steps(ch.steps, acc, ch.bias_add, ch.shift_row, residual=RESIDUAL).astype(np.int8)
    aligned = round_shift_right(acc, k.reshape(1, -1)) << sa
    want = requantize_array(aligned + (RESIDUAL.astype(np.int64) << 1), s, 0, 127)
    np.testing.assert_array_equal(got, want)


def test_unrunnable_per_channel_epilogues_are_refused():
    with pytest.raises(PerChannelError, match="shifts down to -1"):
        requantize_steps("rq", -1, np.array([0, 3]), -128, 127)
    with pytest.raises(PerChannelError, match="span 2..18"):
        requantize_steps("rq", 2, np.array([0, 16]), -128, 127)
    with pytest.raises(PerChannelError, match="outside"):
        align_steps("add", np.array([0, 16]))
    with pytest.raises(PerChannelError, match="cannot move"):
        fold_channel_steps([("bias",), ("clip", 0, 9), *align_steps("a", np.array([1, 2]))], 2, "g")
    assert issubclass(PerChannelError, ValueError) and LoweringError is not PerChannelError


def test_scalar_rounding_stays_an_alu_add_when_the_bias_would_leave_its_range():
    steps = [*align_steps("a", np.array([0, 15])), ("residual", 0),
             ("add_imm", 128), ("shr", 8), ("clip", 0, 127)]  # fmt: skip
    kept = fold_channel_steps(steps, 2, "g", np.array([5, 5]), (-(1 << 20), 1 << 20))
    assert ("add_imm", 128) in kept.steps  # 128 << 15 on top of the bias: beyond the range
    np.testing.assert_array_equal(kept.bias_add, [0, 1 << 14])
    folded = fold_channel_steps(steps, 2, "g", np.array([5, 5]))
    assert ("add_imm", 128) not in folded.steps
    np.testing.assert_array_equal(folded.bias_add, [128, (1 << 14) + (128 << 15)])
