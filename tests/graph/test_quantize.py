"""int8 quantization: bit-exact integer ops, graph structure, and error vs float."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.quant.calibrate import calibrate, pow2_exponent
from compiler.graph.quant.quantize import quantize_int8
from compiler.graph.quant.report import quantization_error, render_quant_report
from compiler.graph.ref.vtac_ops import quantize_array, requantize_array
from compiler.graph.verifier import verify
from tests.conftest import sweep_size
from tests.graph.helpers import ops


def test_pow2_exponent_covers_the_range():
    assert pow2_exponent(127.0) == 0
    assert pow2_exponent(128.0) == 1
    assert pow2_exponent(1.0) == -6  # 127 * 2**-7 < 1 <= 127 * 2**-6
    assert pow2_exponent(0.0) == 0
    for amax in np.geomspace(1e-4, 1e4, 50):
        e = pow2_exponent(float(amax))
        assert amax / 2.0**e <= 127 < amax / 2.0 ** (e - 1)


def _py_requantize(acc, shift: int, lo: int, hi: int) -> np.ndarray:
    """Round half up, shift, clip, with Python integers (independent of requantize_array)."""
    want = []
    for a in np.asarray(acc).reshape(-1).tolist():
        v = (a + (1 << (shift - 1))) // (1 << shift) if shift > 0 else a * (1 << -shift)
        want.append(min(max(v, lo), hi))
    return np.array(want, np.int8).reshape(np.shape(acc))


def test_requantize_is_round_shift_clip_bit_exact(rng):
    for _ in range(sweep_size(20)):
        acc = rng.integers(-(2**24), 2**24, size=64, dtype=np.int64).astype(np.int32)
        shift = int(rng.integers(-2, 12))
        lo, hi = sorted(rng.integers(-128, 128, size=2).tolist())
        got = requantize_array(acc, shift, lo, hi)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, _py_requantize(acc, shift, lo, hi))


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, 1000.0, -1000.0], np.float32)
    np.testing.assert_array_equal(quantize_array(x, 0), [0, 2, 2, 0, 127, -128])
    np.testing.assert_array_equal(quantize_array(np.float32([1.0]), -2), [4])


def _conv_relu(rng, cin=3, cout=8):
    b = GraphBuilder("cr")
    x = b.input("x", (1, cin, 10, 10))
    w = b.const("w", (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32))
    bias = b.const("b", (rng.standard_normal(cout) * 0.1).astype(np.float32))
    y = b.op("Conv", [x, w, bias], pads=(1, 1, 1, 1), strides=(2, 2), name="conv")
    b.output(b.op("Relu", [y], name="relu", out="y"))
    return b.build()


def _naive_int_conv(xq, wq, bq, stride, pad):
    n, c, h, w = xq.shape
    o, _, kh, kw = wq.shape
    xp = np.pad(xq.astype(np.int64), [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, wq.astype(np.int64))
    return out + bq.astype(np.int64)[None, :, None, None]


def test_quantized_conv_relu_is_bit_exact_and_close_to_float(rng):
    g = _conv_relu(rng)
    samples = [{"x": rng.standard_normal((1, 3, 10, 10)).astype(np.float32)} for _ in range(4)]
    q, plan = quantize_int8(g, calibrate(g, samples))
    verify(q)
    assert ops(q) == ["vtac.quantize", "vtac.conv2d", "vtac.requantize", "vtac.dequantize"]
    layer = plan.layers[0]
    requant = q.nodes[2]
    assert requant.attr("lo") == 0 and requant.attr("hi") == 127  # relu folded into the clip
    assert requant.attr("shift") == layer.exp_out - (layer.exp_in + layer.exp_w)
    # The integer path, recomputed independently.
    env = run_graph(q, samples[0], keep_all=True)
    xq = quantize_array(samples[0]["x"], layer.exp_in)
    wq, bq = q.constants[q.nodes[1].inputs[1]], q.constants[q.nodes[1].inputs[2]]
    acc = _naive_int_conv(xq, wq, bq, 2, 1)
    np.testing.assert_array_equal(env[q.nodes[1].outputs[0]], acc.astype(np.int32))
    want = _py_requantize(acc, requant.attr("shift"), 0, 127)
    np.testing.assert_array_equal(env[requant.outputs[0]], want)
    assert 0.3 < float(np.mean((want > 0) & (want < 127)))  # most outputs not saturated
    # Float error: within a few output quantization steps.
    err = quantization_error(g, q, samples)[0]
    assert err.max_abs <= 4 * 2.0**layer.exp_out
    assert err.rel_l2 < 0.05
    assert "relative L2 error" in render_quant_report(plan, [err])


def test_residual_add_aligns_exponents_by_shifts(rng):
    b = GraphBuilder("res")
    x = b.input("x", (1, 8, 6, 6))
    w = b.const("w", (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32))
    y = b.op("Conv", [x, w], pads=(1, 1, 1, 1), name="conv")
    y = b.op("Add", [y, x], name="add")
    b.output(b.op("Relu", [y], name="relu", out="y"))
    g = b.build()
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(4)]
    q, plan = quantize_int8(g, calibrate(g, samples))
    assert ops(q) == ["vtac.quantize", "vtac.conv2d", "vtac.add", "vtac.requantize",
                      "vtac.dequantize"]  # fmt: skip
    add = q.nodes[2]
    assert min(add.attr("shift_a"), add.attr("shift_b")) == 0
    assert add.inputs[1] == q.nodes[0].outputs[0]  # x's int8 form is reused
    err = quantization_error(g, q, samples)[0]
    assert err.rel_l2 < 0.05


def test_keep_first_and_last_float(rng):
    b = GraphBuilder("three")
    x = b.input("x", (2, 16))
    for i in range(3):
        w = b.const(f"w{i}", (rng.standard_normal((16, 16)) * 0.25).astype(np.float32))
        x = b.op("Relu", [b.op("MatMul", [x, w], name=f"mm{i}")], name=f"relu{i}")
    b.output(x)
    g = b.build()
    samples = [{"x": rng.standard_normal((2, 16)).astype(np.float32)} for _ in range(3)]
    ranges = calibrate(g, samples)
    q, plan = quantize_int8(g, ranges, keep_first_float=True, keep_last_float=True)
    assert [layer.anchor for layer in plan.layers] == ["mm1"]
    assert set(plan.kept_float) == {"mm0", "mm2"}
    assert ops(q).count("MatMul") == 2 and ops(q).count("vtac.dense") == 1
    q_all, plan_all = quantize_int8(g, ranges)
    assert len(plan_all.layers) == 3
    assert quantization_error(g, q_all, samples)[0].rel_l2 < 0.08


def test_percentile_calibration_ignores_outliers(rng):
    g = _conv_relu(rng)
    x = rng.standard_normal((1, 3, 10, 10)).astype(np.float32)
    x[0, 0, 0, 0] = 1000.0
    r_max = calibrate(g, [{"x": x}], "max")
    r_pct = calibrate(g, [{"x": x}], "percentile", 99.0)
    assert r_max["x"] == pytest.approx(1000.0)
    assert r_pct["x"] < 5.0
    with pytest.raises(ValueError, match="calibration method 'mean'"):
        calibrate(g, [{"x": x}], "mean")


def test_mse_exponent_trades_clipping_for_resolution(rng):
    from compiler.graph.quant.calibrate import best_exponent

    values = rng.standard_normal(20000)
    values[0] = 40.0  # one outlier sets the max-based exponent
    e_max = pow2_exponent(40.0)
    assert best_exponent(values, e_max) < e_max
    # Values at the range edge: clipping them costs more than resolution gains.
    assert best_exponent(np.array([1.0, -1.0] * 50), pow2_exponent(1.0)) == pow2_exponent(1.0)
    g = _conv_relu(rng)
    samples = [{"x": rng.standard_normal((1, 3, 10, 10)).astype(np.float32)} for _ in range(2)]
    ranges = calibrate(g, samples, "mse")
    assert pow2_exponent(ranges["x"]) <= pow2_exponent(calibrate(g, samples, "max")["x"])


def test_layers_the_accelerator_cannot_run_stay_float(cfg, rng):
    from compiler.graph.pipeline import compile_for_accel

    c = 2 * cfg.block
    b = GraphBuilder("dilated")
    x = b.input("x", (1, c, 8, 8))
    dk = b.const("dk", (rng.standard_normal((c, c, 3, 3)) * 0.1).astype(np.float32))
    y = b.op("Conv", [x, dk], pads=(2, 2, 2, 2), dilations=(2, 2), name="dilated")
    y = b.op("Relu", [y])
    pw = b.const("pw", (rng.standard_normal((c, c, 1, 1)) * 0.3).astype(np.float32))
    b.output(b.op("Relu", [b.op("Conv", [y, pw], name="pointwise")], out="y"))
    g = b.build()
    samples = [{"x": rng.standard_normal((1, c, 8, 8)).astype(np.float32)} for _ in range(2)]
    result = compile_for_accel(g, cfg, samples)
    assert [layer.anchor for layer in result.plan.layers] == ["pointwise"]
    assert "accelerator cannot run it (dilation != 1)" in result.plan.kept_float["dilated"]
    assert result.graph.node("dilated").op == "Conv"
    assert result.graph.node("pointwise").target == "accel"
    all_int8 = compile_for_accel(g, cfg, samples, accel_only=False)
    assert len(all_int8.plan.layers) == 2


def test_separate_bias_add_folds_into_the_int32_bias(rng):
    b = GraphBuilder("mm_bias")
    x = b.input("x", (2, 16))
    w = b.const("w", (rng.standard_normal((16, 8)) * 0.3).astype(np.float32))
    y = b.op("MatMul", [x, w], name="mm")
    y = b.op("Add", [y, b.const("bias", rng.standard_normal(8).astype(np.float32))], name="bias")
    b.output(b.op("Relu", [y], name="relu", out="y"))
    g = b.build()
    samples = [{"x": rng.standard_normal((2, 16)).astype(np.float32)} for _ in range(3)]
    q, plan = quantize_int8(g, calibrate(g, samples))
    assert ops(q) == ["vtac.quantize", "vtac.dense", "vtac.requantize", "vtac.dequantize"]
    assert len(q.nodes[1].inputs) == 3 and q.types[q.nodes[1].inputs[2]].dtype == "int32"
    assert plan.layers[0].output == "y" and q.nodes[2].attr("lo") == 0
    assert quantization_error(g, q, samples)[0].rel_l2 < 0.05
