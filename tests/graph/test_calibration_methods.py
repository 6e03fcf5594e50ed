"""Calibration methods on planted distributions: histogram exponents, the per-value choice,
bias correction, --keep-float and the per-layer error report."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.ir import GraphError
from compiler.graph.quant.calibrate import collect_stats, pow2_exponent
from compiler.graph.quant.choose import CHOICE_METHODS, quantize_calibrated
from compiler.graph.quant.histogram import (
    BINS,
    AbsHistogram,
    entropy_exponent,
    expected_sq_error,
    hist_mse_exponent,
)
from compiler.graph.quant.layer_report import layer_errors, render_layer_errors


def test_histogram_span_grows_by_exact_pairwise_merges(rng):
    small = rng.uniform(-1, 1, 5000)
    big = rng.uniform(-10, 10, 5000)
    grown = AbsHistogram()
    grown.add(small)
    grown.add(big)  # the span doubles 4 times: bins merge pairwise
    once = AbsHistogram()
    once.add(big)
    once.add(small)
    assert grown.top_exp == once.top_exp == 4
    np.testing.assert_array_equal(grown.counts, once.counts)
    assert grown.counts.sum() == 10000 and grown.counts.size == BINS
    relu = AbsHistogram()
    relu.add(np.maximum(small, 0))
    assert relu.zeros == np.count_nonzero(small <= 0)  # exact zeros are counted apart


def test_histogram_methods_clip_rare_outliers_but_not_a_uniform_range(rng):
    x = rng.standard_normal(200_000)
    x[0] = 20.0  # one outlier sets max |x|
    h = AbsHistogram()
    h.add(x)
    e_max = pow2_exponent(20.0)  # -2: 127 / 4 covers 20
    for pick in (hist_mse_exponent, entropy_exponent):
        e = pick(h)
        # A sensible int8 range for N(0, 1) is about 3..8 sigma: 127 * 2**e in [3, 8].
        assert e < e_max and 3 <= 127 * 2.0**e <= 8, (pick.__name__, e)
    u = AbsHistogram()
    u.add(rng.uniform(-100, 100, 100_000))  # no tail: clipping only hurts
    assert hist_mse_exponent(u) == pow2_exponent(100.0)
    assert entropy_exponent(u) == pow2_exponent(100.0)
    # The expected error of the histogram matches the measured error of real rounding.
    e = hist_mse_exponent(h)
    q = np.clip(np.rint(x / 2.0**e), -127, 127) * 2.0**e
    assert expected_sq_error(h, e) == pytest.approx(float(np.sum((q - x) ** 2)), rel=0.05)


def _conv_graph(w: np.ndarray, bias: bool = False):
    b = GraphBuilder("c")
    x = b.input("x", (1, w.shape[1], 6, 6))
    ins = [x, b.const("w", w.astype(np.float32))]
    if bias:
        ins.append(b.const("b", np.zeros(w.shape[0], np.float32)))
    b.output(b.op("Conv", ins, kernel_shape=(1, 1), name="conv", out="y"))
    return b.build()


@pytest.mark.parametrize("mode", ["weights", "empirical"])
def test_bias_correction_removes_a_planted_mean_shift(rng, mode):
    # Every weight of channel o is (20 + o + 0.4) / 64: at 2**-6 each rounds down by 0.4 of a
    # step, so positive inputs see a systematic negative shift of about 63 * 0.4 / 64 * E[x].
    cin, cout = 64, 4
    w = np.array([[(20 + o + 0.4) / 64] * cin for o in range(cout)]).reshape(cout, cin, 1, 1)
    w[0, 0] = 1.0  # sets max |W|: e_w = -6
    g = _conv_graph(w)
    samples = [{"x": rng.uniform(0, 1, (1, cin, 6, 6)).astype(np.float32)} for _ in range(6)]

    def mean_error(bias_correction) -> np.ndarray:
        # per tensor: the planted rounding assumes one weight exponent for every channel;
        # rounding to nearest (data-aware rounding would remove the planted shift itself)
        q, plan, info = quantize_calibrated(g, samples, "max", weight_mse=False,
                                            bias_correction=bias_correction, per_channel=False,
                                            weight_rounding="nearest")  # fmt: skip
        assert plan.layers[0].exp_w == -6
        diffs = [run_graph(q, s)["y"].astype(np.float64) - run_graph(g, s)["y"] for s in samples]
        return np.mean(diffs, axis=(0, 1, 3, 4)), info

    before, _ = mean_error(False)
    after, info = mean_error(mode)
    assert np.all(before < -0.15)  # the planted shift: about -0.2 per channel
    assert np.all(np.abs(after) < 0.03)
    assert info.bias_shift["conv"] == pytest.approx(0.2, abs=0.03)
    with pytest.raises(ValueError, match="bias correction 'mean'"):
        mean_error("mean")


def test_bias_correction_adds_a_bias_to_a_layer_without_one(rng):
    w = rng.standard_normal((8, 16, 1, 1)) * 0.2
    g = _conv_graph(w, bias=False)
    samples = [{"x": rng.uniform(0.5, 1.5, (1, 16, 6, 6)).astype(np.float32)} for _ in range(3)]
    q, _, _ = quantize_calibrated(g, samples, "max", bias_correction=True)
    conv = next(n for n in q.nodes if n.op == "vtac.conv2d")
    assert len(conv.inputs) == 3 and q.constants[conv.inputs[2]].dtype == np.int32


def _two_layers(rng, outlier: bool):
    b = GraphBuilder("two")
    x = b.input("x", (1, 8, 6, 6))
    w1 = rng.standard_normal((8, 8, 3, 3)) * 0.2
    w2 = rng.standard_normal((8, 8, 3, 3)) * 0.2
    if outlier:
        w2[0, 0, 0, 0] = 40.0  # per-tensor weight scale: every other weight of conv2 rounds off
    y = b.op("Conv", [x, b.const("w1", w1.astype(np.float32))], pads=(1,) * 4, name="conv1")
    y = b.op("Relu", [y], name="relu1")
    y = b.op("Conv", [y, b.const("w2", w2.astype(np.float32))], pads=(1,) * 4, name="conv2")
    b.output(b.op("Relu", [y], name="relu2", out="y"))
    return b.build()


def test_auto_choice_records_methods_and_beats_a_fixed_method_on_its_layers(rng):
    g = _two_layers(rng, outlier=False)
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(3)]
    qa, plan_a, info = quantize_calibrated(g, samples, "auto")
    assert info.chosen and set(info.chosen.values()) <= set(CHOICE_METHODS)
    assert {"x", "y"} <= set(info.chosen)  # the input and the output of the network
    qh, plan_h, info_h = quantize_calibrated(g, samples, "hist_mse")
    err_a = {r.anchor: r.rel_l2 for r in layer_errors(g, qa, plan_a, samples)}
    err_h = {r.anchor: r.rel_l2 for r in layer_errors(g, qh, plan_h, samples)}
    for name in err_a:  # measured on the samples the choice was made on
        assert err_a[name] <= err_h[name] + 1e-12


def test_layer_report_lists_the_planted_bad_layer_first(rng):
    g = _two_layers(rng, outlier=True)
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(3)]
    q, plan, info = quantize_calibrated(g, samples, "auto", bias_correction=True)
    rows = layer_errors(g, q, plan, samples, info.chosen, info.bias_shift)
    assert [r.anchor for r in rows] == ["conv2", "conv1"]
    assert rows[0].sqnr_db < rows[1].sqnr_db and rows[0].rel_l2 > rows[1].rel_l2
    text = render_layer_errors(rows)
    assert text.index("conv2") < text.index("conv1") and "SQNR dB" in text
    # Keeping it float removes it from the int8 layers, with the reason recorded.
    q2, plan2, _ = quantize_calibrated(g, samples, "auto", keep_float=["conv2"])
    assert [layer.anchor for layer in plan2.layers] == ["conv1"]
    assert plan2.kept_float["conv2"] == "kept in float (--keep-float)"
    assert any(n.op == "Conv" and n.name == "conv2" for n in q2.nodes)


def test_keep_float_names_must_be_conv_or_dense_nodes(rng):
    g = _two_layers(rng, outlier=False)
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)}]
    with pytest.raises(GraphError, match="--keep-float nope: no node of that name.*conv1"):
        quantize_calibrated(g, samples, keep_float=["nope"])
    with pytest.raises(GraphError, match="--keep-float relu1: node is a Relu"):
        quantize_calibrated(g, samples, keep_float=["relu1"])
    with pytest.raises(ValueError, match="calibration method 'kl'"):
        quantize_calibrated(g, samples, "kl")


def test_collect_stats_feeds_every_method(rng):
    g = _two_layers(rng, outlier=False)
    samples = [{"x": rng.standard_normal((1, 8, 6, 6)).astype(np.float32)} for _ in range(2)]
    stats = collect_stats(g, samples)
    st = stats["x"]
    exps = {m: st.exponent(m) for m in ("max", "percentile", "mse", "hist_mse", "entropy")}
    assert exps["max"] == pow2_exponent(st.amax)
    assert all(exps["max"] - 6 < e <= exps["max"] for e in exps.values())
