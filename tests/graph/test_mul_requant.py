"""Fixed-point requantization with the ALU's MUL (requant="mul"): the reference semantics of
`fixed_point`, the multiplier planner's overflow and saturation guarantees, free per-channel
weight scales, the accelerator step lists against the reference, and the selection rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.driver.per_channel_epilogue import (
    PerChannelError,
    fixed_point_steps,
    fold_channel_steps,
)
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.ir import GraphError
from compiler.graph.pipeline import compile_for_accel, requant_mode
from compiler.graph.quant.calibrate import calibrate
from compiler.graph.quant.fixed_point import (
    MAX_SCALE_SPREAD,
    FixedPointError,
    plan_multipliers,
    quantize_weights_scaled,
    weight_scales,
)
from compiler.graph.quant.quantize import quantize_int8
from compiler.graph.ref.vtac_ops import MUL_CLAMP, MUL_MAX, fixed_point, round_shift_right
from hw_sim.config import load_config
from tests.graph.alu_steps import run_alu_steps


def _py_rsr(a: int, s: int) -> int:
    return (a + (1 << (s - 1))) >> s if s > 0 else a


def _py_fixed_point(a: int, p: int, m: int, q: int) -> int:
    return _py_rsr(max(-MUL_CLAMP, min(MUL_CLAMP, _py_rsr(a, p))) * m, q)


def test_fixed_point_semantics_match_python_integers(rng):
    cases = [(0, 0, 1, 0), (-1, 1, 5, 1), (1, 1, 5, 1), (-(2**31), 0, MUL_MAX, 20),
             (2**31 - 1, 0, MUL_MAX, 20), (2**31 - 1, 15, 3, 0), (-3, 2, 0, 7),
             (40000, 0, 2, 1), (-40000, 0, 2, 1), (5, 1, 1, 0), (-5, 1, 1, 0)]  # fmt: skip
    for _ in range(200):
        cases.append((int(rng.integers(-(2**31), 2**31)), int(rng.integers(0, 20)),
                      int(rng.integers(0, MUL_MAX + 1)), int(rng.integers(0, 31))))  # fmt: skip
    for a, p, m, q in cases:
        got = int(fixed_point(np.array([a], np.int64), p, m, q)[0])
        assert got == _py_fixed_point(a, p, m, q), (a, p, m, q)
    # the clamped product plus the largest rounding constant an immediate add uses fits int32
    assert MUL_CLAMP * MUL_MAX + (1 << 14) < 2**31


def test_fixed_point_refuses_what_the_accelerator_cannot_do():
    a = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="multipliers up to"):
        fixed_point(a, 0, MUL_MAX + 1, 3)
    with pytest.raises(ValueError, match=">= 0"):
        fixed_point(a, -1, 5, 3)


@pytest.mark.parametrize("reach", [128, 5000, 70000])
def test_planned_multipliers_are_exact_and_their_clamp_never_matters(reach, rng):
    """For factors spread over 20 octaves the clamp changes no result once clipped to +-reach
    (nothing overflows, nothing saturates early) and the multipliers fit; for factors of an
    accumulator finer than its target (m <= 2**-7 * reach / 128, within the weight scales'
    spread) the result inside the reach is the rounded a * m up to a small fraction of a unit."""
    wide = 2.0 ** rng.uniform(-26, -6, 24) * reach / 128  # a spread beyond 15 bits
    fine = 2.0 ** rng.uniform(-14, -7, 24) * reach / 128
    for mm, precise in ((wide, False), (fine, True)):
        fp = plan_multipliers(mm, reach, "t")
        assert fp.mult.max() <= MUL_MAX and fp.pre.min() >= 0 and fp.shift >= 0
        assert fp.pre.max() - fp.pre.min() <= 15
        a = np.concatenate([rng.integers(-(2**31), 2**31, (300, mm.size)),
                            np.rint(rng.uniform(-2, 2, (300, mm.size)) * reach / mm)])  # fmt: skip
        a = np.clip(a, -(2**31), 2**31 - 1).astype(np.int64)
        got = fp.apply(a, (1, -1))
        unclamped = round_shift_right(
            round_shift_right(a, fp.pre.reshape(1, -1)) * fp.mult.reshape(1, -1), fp.shift
        )
        np.testing.assert_array_equal(np.clip(got, -reach, reach),
                                      np.clip(unclamped, -reach, reach))  # fmt: skip
        if precise:
            inside = np.abs(a * mm) < reach
            assert fp.mult.min() >= 2**14
            err = np.abs(got - a * mm)[inside]
            assert err.max() <= 0.5 + 2.0**-8 + reach * 2.0**-14, err.max()


def test_multiplier_bits():
    """An accumulator at least 8 bits finer than the output: 15-16-bit multipliers in every
    channel; a coarser channel (no pre-shift left to take) costs the others' bits."""
    fp = plan_multipliers(2.0 ** np.linspace(-20, -8, 13) * 1.37, 128, "t")
    assert fp.mult.min() >= 2**14 and fp.mult.max() <= MUL_MAX
    fp = plan_multipliers(2.0 ** np.linspace(-14, -6, 9) * 1.37, 128, "t")
    assert fp.mult.min() >= 2**13 and (fp.pre[-3:] == 0).all()


def test_planner_errors_name_the_node():
    with pytest.raises(FixedPointError, match="conv7.*> 0"):
        plan_multipliers(np.array([0.0, 1e-3]), 128, "conv7")
    with pytest.raises(FixedPointError, match="conv7.*coarser"):
        plan_multipliers(np.array([2.0**20]), 128, "conv7")


def test_weight_scales_use_the_whole_int8_range():
    w = np.full((3, 4, 3, 3), 0.002828)  # a light-zoo style constant fill
    w[1] *= -0.3
    w[2] = 0.0  # an all-zero channel
    s = weight_scales(w, weight_mse=True)
    wq = quantize_weights_scaled(w, s)
    np.testing.assert_array_equal(wq[0], 127)
    np.testing.assert_array_equal(wq[1], -127)
    np.testing.assert_array_equal(wq[2], 0)
    np.testing.assert_allclose(wq[:2] * s[:2, None, None, None], w[:2], rtol=1e-12)
    assert s[2] == s.max()
    tiny = np.ones((2, 5))
    tiny[1] *= 1e-9
    assert weight_scales(tiny)[1] == pytest.approx(weight_scales(tiny)[0] * MAX_SCALE_SPREAD)
    assert (weight_scales(np.zeros((2, 3))) == 1).all()


@pytest.mark.parametrize("uniform", [False, True])
def test_fixed_point_steps_fold_exactly(uniform, rng):
    c = 12
    m = 2.0 ** rng.uniform(-13, -6, c)
    fp = plan_multipliers(m if not uniform else np.full(c, m[0]), 128, "rq")
    acc = rng.integers(-(2**30), 2**30, (500, c))
    acc[:100] //= 2**12  # most values inside the int8 range
    bias = rng.integers(-5000, 5000, c)
    steps = [("bias",), *fixed_point_steps("rq", fp.pre, fp.mult, fp.shift), ("clip", 0, 127)]
    ch = fold_channel_steps(steps, c, "g", bias)
    assert ("mul_chan",) in ch.steps and (("shr_chan",) in ch.steps) == (not uniform)
    assert all(0 < st[1] <= 15 for st in ch.steps if st[0] == "shr")
    assert all(abs(st[1]) < 2**15 for st in ch.steps if st[0] == "add_imm")
    got = run_alu_steps(ch.steps, acc, bias + ch.bias_add, ch.shift_row, ch.mult_row)
    want = np.clip(fp.apply(acc + bias, (1, -1)), 0, 127)
    np.testing.assert_array_equal(got, want)


def test_fixed_point_align_then_residual_folds_exactly(rng):
    c = 12
    fp = plan_multipliers(2.0 ** rng.uniform(-12, -2, c), 129 * 2**8 + (128 << 8), "add")
    acc = rng.integers(-(2**31), 2**31, (500, c))
    res = rng.integers(-128, 128, (500, c)).astype(np.int8)
    steps = [*fixed_point_steps("add", fp.pre, fp.mult, fp.shift), ("residual", 8),
             ("add_imm", 1 << 7), ("shr", 8), ("clip", 0, 127)]  # fmt: skip
    ch = fold_channel_steps(steps, c, "g")
    got = run_alu_steps(ch.steps, acc, ch.bias_add, ch.shift_row, ch.mult_row, res)
    aligned = fp.apply(acc, (1, -1)) + (res.astype(np.int64) << 8)
    np.testing.assert_array_equal(got, np.clip(round_shift_right(aligned, 8), 0, 127))


def test_unrunnable_fixed_point_steps_are_refused():
    with pytest.raises(PerChannelError, match="span 0..16"):
        fixed_point_steps("rq", np.array([0, 16]), np.array([3, 3]), 4)
    with pytest.raises(PerChannelError, match="overflow"):
        fixed_point_steps("rq", np.array([0, 1]), np.array([MUL_MAX + 1, 3]), 4)


def _constant_weight_chain():
    """Three convs with one weight value per tensor (the light models' generated fills)."""
    b = GraphBuilder("fill")
    y = b.input("x", (1, 8, 6, 6))
    for i in range(3):
        w = np.full((8, 8, 3, 3), 0.002828 * (1 + i), np.float32)
        y = b.op("Conv", [y, b.const(f"w{i}", w)], pads=(1, 1, 1, 1), name=f"conv{i}")
        y = b.op("Relu", [y], name=f"relu{i}", out="y" if i == 2 else None)
    b.output(y)
    return b.build()


def _error(g, qg, feeds):
    want, got = run_graph(g, feeds)["y"], run_graph(qg, feeds)["y"]
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def test_free_scales_remove_the_shared_weight_gain(rng):
    g = _constant_weight_chain()
    feeds = [{"x": rng.uniform(0, 1, (1, 8, 6, 6)).astype(np.float32)} for _ in range(3)]
    ranges = calibrate(g, feeds, method="max")
    shift = _error(g, quantize_int8(g, ranges)[0], feeds[0])
    qg, plan = quantize_int8(g, ranges, requant="mul")
    mul = _error(g, qg, feeds[0])
    assert mul < shift / 2, (mul, shift)
    rq = [n for n in qg.nodes if n.op == "vtac.requantize"]
    assert len(rq) == 3 and all(len(n.inputs) == 3 for n in rq)
    assert all(layer.w_scales is not None for layer in plan.layers)
    for n in qg.nodes:
        if n.op == "vtac.conv2d":
            assert (np.abs(qg.constants[n.inputs[1]]) == 127).all()  # exact weights


def test_residual_add_and_max_take_the_fixed_point_rescale(rng):
    b = GraphBuilder("res")
    x = b.input("x", (1, 8, 5, 5))
    r = b.op(
        "Relu",
        [
            b.op(
                "Conv",
                [x, b.const("w0", rng.standard_normal((8, 8, 1, 1)).astype(np.float32))],
                name="c0",
            )
        ],
        name="r0",
    )
    y = b.op(
        "Conv",
        [
            r,
            b.const(
                "w1",
                (
                    rng.standard_normal((8, 8, 3, 3)) * 2.0 ** rng.uniform(-4, 1, (8, 1, 1, 1))
                ).astype(np.float32),
            ),
        ],
        pads=(1, 1, 1, 1),
        name="c1",
    )
    y = b.op("Relu", [b.op("Add", [y, r], name="add")], name="r1")
    z = b.op(
        "Conv", [y, b.const("w2", rng.standard_normal((8, 8, 1, 1)).astype(np.float32))], name="c2"
    )
    b.output(b.op("Max", [z, y], name="mx", out="y"))  # fmt: skip
    g = b.build()
    feeds = [{"x": rng.standard_normal((1, 8, 5, 5)).astype(np.float32)} for _ in range(3)]
    qg, _ = quantize_int8(g, calibrate(g, feeds, method="max"), requant="mul")
    joins = [n for n in qg.nodes if n.op in ("vtac.add", "vtac.max")]
    assert sorted(n.op for n in joins) == ["vtac.add", "vtac.max"]
    assert all(len(n.inputs) == 4 and n.attr("shift_a") == 0 for n in joins)
    assert _error(g, qg, feeds[0]) < 0.05


def test_selection_follows_the_config(rng):
    small = load_config("small")
    mul = dataclasses.replace(small, ALU_MUL=True)
    assert requant_mode(small, None) == "shift" and requant_mode(mul, None) == "auto"
    assert requant_mode(mul, "shift") == "shift" and requant_mode(small, "auto") == "shift"
    with pytest.raises(ValueError, match="ALU_MUL"):
        requant_mode(small, "mul")
    with pytest.raises(ValueError, match="'mul', 'shift' or 'auto'"):
        requant_mode(mul, "div")
    g = _constant_weight_chain()
    feeds = [{"x": rng.uniform(0, 1, (1, 8, 6, 6)).astype(np.float32)} for _ in range(2)]
    kw = dict(method="max", equalize=False)
    plain = compile_for_accel(g, small, feeds, **kw).graph
    assert not any(len(n.inputs) > 2 for n in plain.nodes if n.op == "vtac.requantize")
    forced = compile_for_accel(g, mul, feeds, requant="shift", **kw).graph
    assert [n.op for n in plain.nodes] == [n.op for n in forced.nodes]
    assert all(np.array_equal(plain.constants[k], forced.constants[k]) for k in plain.constants)
    with_mul = compile_for_accel(g, mul, feeds, requant="mul", **kw).graph
    assert any(len(n.inputs) == 3 for n in with_mul.nodes if n.op == "vtac.requantize")
    # the default with MUL: both schemes, the one closer to the float outputs kept
    auto = compile_for_accel(g, mul, feeds, **kw)
    errors = auto.calibration.requant["errors"]
    assert auto.calibration.requant["chosen"] == min(errors, key=errors.get)
    assert set(errors) == {"mul", "shift"} and errors["mul"] < errors["shift"]  # shared weights


def test_an_unrealizable_rescale_is_a_graph_error_naming_the_node():
    b = GraphBuilder("coarse")
    x = b.input("x", (1, 2, 3, 3))
    y = b.op("Conv", [x, b.const("w", np.full((2, 2, 1, 1), 1e6, np.float32))], name="huge",
             out="y")  # fmt: skip
    b.output(y)
    g = b.build()
    # an output range far below the accumulator's step: the factor exceeds any multiplier
    ranges = {"x": 1.0, "y": 1e-6}
    with pytest.raises(GraphError, match="huge"):
        quantize_int8(g, ranges, requant="mul")


def test_free_activation_scales_only_where_every_reader_rescales(rng):
    """conv0's output feeds a max pool then conv1 (free); conv1's output is a residual
    operand (power of two); conv2's output goes to a concat (power of two); the last conv's
    output is a graph output read by float ops (free)."""
    b = GraphBuilder("free")
    x = b.input("x", (1, 8, 8, 8))

    def conv(v, name, k=1):
        w = b.const(f"{name}_w", rng.standard_normal((8, 8, k, k)).astype(np.float32))
        pads = (k // 2,) * 4
        return b.op("Relu", [b.op("Conv", [v, w], pads=pads, name=name)], name=f"{name}_relu")

    y0 = conv(x, "conv0", 3)
    p = b.op("MaxPool", [y0], kernel_shape=(2, 2), strides=(2, 2), name="pool")
    y1 = conv(p, "conv1")
    y2 = b.op("Add", [b.op("Conv", [y1, b.const("w2", rng.standard_normal((8, 8, 1, 1))
                                                .astype(np.float32))], name="conv2"), y1],
              name="add")  # fmt: skip
    y3 = b.op("Concat", [conv(y2, "conv3"), y2], axis=1, name="cat")
    out = b.op("Conv", [y3, b.const("w4", rng.standard_normal((4, 16, 1, 1)).astype(np.float32))],
               name="conv4", out="y")  # fmt: skip
    b.output(out)
    g = b.build()
    feeds = [{"x": rng.standard_normal((1, 8, 8, 8)).astype(np.float32)} for _ in range(2)]
    qg, plan = quantize_int8(g, calibrate(g, feeds, method="percentile"), requant="mul")
    exp_out = {layer.anchor: float(layer.exp_out) for layer in plan.layers}
    frac = {a for a, e in exp_out.items() if not e.is_integer()}
    assert frac == {"conv0", "conv4"}, exp_out
    assert not float(dict((la.anchor, la.exp_in) for la in plan.layers)["conv1"]).is_integer()
    shift_only, _ = quantize_int8(g, calibrate(g, feeds, method="percentile"))
    assert _error(g, qg, feeds[0]) < 0.1 and _error(g, shift_only, feeds[0]) < 0.1
    fixed, plan2 = quantize_int8(g, calibrate(g, feeds, method="percentile"), requant="mul",
                                 free_activations=False)  # fmt: skip
    assert all(float(la.exp_out).is_integer() for la in plan2.layers)


def test_free_ranges_are_finer_than_powers_of_two(rng):
    from compiler.graph.quant.calibrate import collect_stats, free_range

    b = GraphBuilder("r")
    x = b.input("x", (1, 4, 16, 16))
    b.output(b.op("Relu", [x], name="r", out="y"))
    g = b.build()
    feeds = [{"x": (rng.standard_normal((1, 4, 16, 16)) * 3).astype(np.float32)}]
    st = collect_stats(g, feeds)["y"]
    assert free_range(st, "max") == st.amax and free_range(st, "percentile") == st.pct
    for method in ("hist_mse", "mse"):
        r = free_range(st, method)
        assert 0 < r <= st.amax * (1 + 1e-9)
        assert r >= 127 * 2.0 ** (st.exponent(method) - 1)  # within the power-of-two octave


def test_free_concats_share_one_free_scale(rng):
    b = GraphBuilder("cat")
    x = b.input("x", (1, 8, 6, 6))
    ys = []
    for i, k in enumerate((1, 3)):
        w = (rng.standard_normal((8, 8, k, k)) * (1 + 3 * i)).astype(np.float32)
        ys.append(b.op("Relu", [b.op("Conv", [x, b.const(f"w{i}", w)], pads=(k // 2,) * 4,
                                     name=f"conv{i}")], name=f"relu{i}"))  # fmt: skip
    cat = b.op("Concat", ys, axis=1, name="cat")
    pool = b.op("MaxPool", [cat], kernel_shape=(2, 2), strides=(2, 2), name="pool")
    w = rng.standard_normal((4, 16, 1, 1)).astype(np.float32)
    b.output(b.op("Conv", [pool, b.const("w2", w)], name="conv2", out="y"))
    g = b.build()
    feeds = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(2)]
    ranges = calibrate(g, feeds, method="percentile")
    qg, plan = quantize_int8(g, ranges, requant="mul", free_concats=True)
    exps = {la.anchor: float(la.exp_out) for la in plan.layers}
    assert exps["conv0"] == exps["conv1"] and not exps["conv0"].is_integer()
    assert not any(n.op == "vtac.requantize" and len(n.inputs) == 1 for n in qg.nodes)  # no align
    assert _error(g, qg, feeds[0]) < 0.05
    _, plan = quantize_int8(g, ranges, requant="mul")  # the default: a concat keeps 2**e
    assert all(float(la.exp_out).is_integer() for la in plan.layers if la.anchor != "conv2")


def test_auto_judges_candidates_on_samples_their_calibration_did_not_see(rng, monkeypatch):
    """With >= 4 samples, each candidate is calibrated on the even samples and compared on the
    odd ones; the chosen scheme is then calibrated on all of them."""
    import compiler.graph.pipeline as pipeline

    mul = dataclasses.replace(load_config("small"), ALU_MUL=True)
    g = _constant_weight_chain()
    feeds = [{"x": rng.uniform(0, 1, (1, 8, 6, 6)).astype(np.float32)} for _ in range(4)]
    seen = []
    real = pipeline.quantize_calibrated

    def spy(src, calib, *args, **kw):
        seen.append((kw["requant"], [id(f) for f in calib]))
        return real(src, calib, *args, **kw)

    monkeypatch.setattr(pipeline, "quantize_calibrated", spy)
    res = compile_for_accel(g, mul, feeds, method="max", equalize=False)
    even = [id(f) for f in feeds[0::2]]
    assert seen[:2] == [("mul", even), ("shift", even)]
    assert seen[2] == (res.calibration.requant["chosen"], [id(f) for f in feeds])
    errors = res.calibration.requant["errors"]
    assert res.calibration.requant["chosen"] == min(errors, key=errors.get)
