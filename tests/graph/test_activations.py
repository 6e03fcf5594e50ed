"""Activations on int8 values at graph level: HardSigmoid folded into its conv, Clip bounds
(also opset < 11 attributes), LeakyRelu / PRelu as max(v, slope * v) with the product on the
GEMM unit; each op's int8 semantics vs float within the error stated in docs/compiler.md."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.passes.fold_hardsigmoid import fold_hardsigmoid
from compiler.graph.passes.prelu_as_conv import channel_slopes, prelu_as_conv
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.ref import KernelCtx
from compiler.graph.ref.vtac_ops import maximum as vtac_max
from hw_sim.config import load_config
from tests.graph.helpers import assert_equivalent, ops


def test_hardsigmoid_after_a_conv_folds_into_its_weights_and_a_clip(rng):
    for opset in (13, 10):
        b = GraphBuilder("hsig", opset=opset)
        x = b.input("x", (1, 8, 6, 6))
        w = b.const("w", (rng.standard_normal((16, 8, 3, 3)) * 0.3).astype(np.float32))
        bias = b.const("b", rng.standard_normal(16).astype(np.float32))
        y = b.op("Conv", [x, w, bias], name="c", pads=(1,) * 4)
        b.output(b.op("HardSigmoid", [y], name="hs", alpha=1 / 6, beta=0.5))
        g = b.build()
        after = fold_hardsigmoid(g)
        assert ops(after) == ["Conv", "Clip"]
        assert_equivalent(g, after, rng, rtol=1e-5, atol=1e-6)
        # ... and quantizes to conv + requantize with the clamp [0, 1/2^e_y]
        samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(2)]
        from hw_sim.config import load_config

        q = compile_for_accel(g, load_config("default"), samples).graph
        rq = next(n for n in q.nodes if n.op == "vtac.requantize")
        ey = next(la.exp_out for la in compile_for_accel(g, load_config("default"), samples)
                  .plan.layers)  # fmt: skip
        assert (rq.attr("lo"), rq.attr("hi")) == (0, min(127, int(np.floor(2.0**-ey))))
        assert rq.target == "accel"


def test_hardsigmoid_not_after_a_single_use_conv_is_left_alone(rng):
    b = GraphBuilder("hsig2", opset=13)
    x = b.input("x", (1, 8, 6, 6))
    w = b.const("w", (rng.standard_normal((8, 8, 1, 1)) * 0.3).astype(np.float32))
    y = b.op("Conv", [x, w], name="c")
    b.output(b.op("HardSigmoid", [y], name="hs"), y)  # the conv's output escapes
    g = b.build()
    assert fold_hardsigmoid(g) is g


def test_clip_attribute_bounds_of_old_opsets_fold_into_the_requantize(rng):
    from hw_sim.config import load_config

    b = GraphBuilder("clip10", opset=10)
    x = b.input("x", (1, 8, 6, 6))
    w = b.const("w", (rng.standard_normal((16, 8, 1, 1)) * 0.3).astype(np.float32))
    b.output(b.op("Clip", [b.op("Conv", [x, w], name="c")], name="clip", min=-0.5, max=0.75))
    g = b.build()
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(2)]
    result = compile_for_accel(g, load_config("default"), samples)
    (layer,) = result.plan.layers
    assert layer.epilogue == ["clip"]
    rq = next(n for n in result.graph.nodes if n.op == "vtac.requantize")
    ey = layer.exp_out
    assert rq.attr("lo") == int(np.ceil(-0.5 / 2.0**ey))
    assert rq.attr("hi") == int(np.floor(0.75 / 2.0**ey))


def test_vtac_max_aligns_by_left_shifts():
    a = np.array([-5, 3, 100, -(2**20)], np.int32)
    b = np.array([-1, 1, -2, 127], np.int8)
    ctx = KernelCtx({"shift_a": 1, "shift_b": 4}, 13, "m", "vtac.max")
    np.testing.assert_array_equal(vtac_max(ctx, a, b), [-10, 16, 200, 127 * 16])


def _act_graph(op, opset=13, c=16, **attrs):
    b = GraphBuilder(op.lower(), opset=opset)
    x = b.input("x", (1, c, 6, 6))
    ins = [x]
    if op == "PRelu":
        ins.append(b.const("slope", attrs.pop("slope")))
    b.output(b.op(op, ins, name="act", **attrs))
    return b.build()


def test_leaky_and_prelu_become_a_depthwise_conv_and_a_max(rng):
    for g in (
        _act_graph("LeakyRelu", alpha=0.1),
        _act_graph("PRelu", slope=rng.uniform(0, 1, (16, 1, 1)).astype(np.float32)),
        _act_graph("PRelu", slope=np.array([0.25], np.float32)),
    ):
        after = prelu_as_conv(g)
        assert ops(after) == ["Conv", "Max"]
        assert_equivalent(g, after, rng, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "op,attrs,reason",
    [
        ("LeakyRelu", {"alpha": 1.5}, "outside [0, 1]"),
        ("LeakyRelu", {"alpha": -0.1}, "outside [0, 1]"),
        ("LeakyRelu", {"alpha": 1e-4}, "beyond 15"),
        ("PRelu", {"slope": np.full((16, 6, 6), 0.1, np.float32)}, "one value per channel"),
    ],
)
def test_slopes_the_accelerator_path_cannot_run_stay_on_the_cpu(op, attrs, reason):
    g = _act_graph(op, **attrs)
    assert reason in channel_slopes(g.node("act"), g)
    assert prelu_as_conv(g).node("act").op == op


@pytest.mark.parametrize("alpha,wq,k", [(0.1, 102, 10), (0.01, 82, 13), (0.2, 102, 9)])
def test_leaky_int8_semantics_vs_float_within_the_stated_error(rng, alpha, wq, k):
    """y_q = requantize(max(v_q * a_q, v_q << k)): on the dequantized input, the error vs float
    is the output rounding (half an LSB) plus |a_q 2^-k - a| |v| on the negative side."""
    g = _act_graph("LeakyRelu", alpha=alpha)
    samples = [{"x": rng.standard_normal((1, 16, 6, 6)).astype(np.float32)} for _ in range(3)]
    result = compile_for_accel(g, load_config("default"), samples)
    q = result.graph
    (layer,) = result.plan.layers
    assert layer.exp_w == -k
    w = q.constants[next(n for n in q.nodes if n.op == "vtac.conv2d").inputs[1]]
    assert set(np.unique(w)) == {0, wq}
    quant = next(n for n in q.nodes if n.op == "vtac.quantize")
    ex, ey = int(quant.attr("exp")), layer.exp_out
    for feed in samples:
        xd = np.clip(np.rint(feed["x"] / 2.0**ex), -128, 127) * 2.0**ex  # what the int8 path sees
        want = np.where(xd >= 0, xd, alpha * xd)
        got = run_graph(q, feed)[g.outputs[0]]
        inside = np.abs(want) <= 127 * 2.0**ey  # not clipped by the output range
        bound = 0.5 * 2.0**ey + abs(wq * 2.0**-k - alpha) * np.abs(xd) + 1e-7
        assert (np.abs(got - want)[inside] <= bound[inside]).all()
        assert inside.mean() > 0.95


def test_prelu_per_channel_slopes_are_exact_on_the_positive_side(rng):
    slope = rng.uniform(0.05, 0.9, (16, 1, 1)).astype(np.float32)
    g = _act_graph("PRelu", slope=slope)
    samples = [{"x": rng.standard_normal((1, 16, 6, 6)).astype(np.float32)} for _ in range(3)]
    result = compile_for_accel(g, load_config("small"), samples)
    q = result.graph
    assert [n.op for n in q.nodes if n.target == "accel"] == [
        "vtac.conv2d", "vtac.max", "vtac.requantize"
    ]  # fmt: skip
    quant = next(n for n in q.nodes if n.op == "vtac.quantize")
    ex, ey = int(quant.attr("exp")), result.plan.layers[0].exp_out
    ew = result.plan.layers[0].exp_w
    feed = samples[0]
    xd = np.clip(np.rint(feed["x"] / 2.0**ex), -128, 127) * 2.0**ex
    got = run_graph(q, feed)[g.outputs[0]]
    want = np.where(xd >= 0, xd, slope[None] * xd)
    # positive side: only the output rounding; negative: plus the slope's quantization
    pos = (xd >= 0) & (np.abs(want) <= 127 * 2.0**ey)
    assert (np.abs(got - want)[pos] <= 0.5 * 2.0**ey).all()
    slope_err = np.abs(np.rint(slope / 2.0**ew) * 2.0**ew - slope)[None]
    neg = ~pos & (np.abs(want) <= 127 * 2.0**ey)
    bound = 0.5 * 2.0**ey + slope_err * np.abs(xd) + 1e-7
    assert (np.abs(got - want)[neg] <= np.broadcast_to(bound, want.shape)[neg]).all()


def test_hardswish_stays_on_the_cpu_with_its_reason(rng):
    from compiler.graph.accel_support import CPU_REASONS

    assert "product of two tensors" in CPU_REASONS["HardSwish"]
    g = _act_graph("HardSwish")
    samples = [{"x": rng.standard_normal((1, 16, 6, 6)).astype(np.float32)} for _ in range(2)]
    q = compile_for_accel(g, load_config("default"), samples).graph
    node = q.node("act")
    assert node.op == "HardSwish" and node.target == "cpu"
    assert node.reason == CPU_REASONS["HardSwish"]
