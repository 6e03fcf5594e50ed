"""equalize_depthwise_inputs: per-channel power-of-two input scaling of depthwise convs, undone
in the filter. Exact in float, and it lowers the int8 error when channel ranges differ."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.quant.equalize import channel_shifts, equalize_depthwise_inputs


def _graph(rng, c=32, producer="hardswish", k=3):
    """x -> pw conv -> (HardSwish | Relu) -> depthwise conv -> output, with channel ranges
    that differ by up to 2^7 at the depthwise input."""
    b = GraphBuilder("eq", opset=13)
    x = b.input("x", (1, 8, 10, 10))
    spread = 2.0 ** -rng.integers(0, 8, c)
    w1 = (rng.standard_normal((c, 8, 1, 1)) * spread.reshape(-1, 1, 1, 1)).astype(np.float32)
    y = b.op("Conv", [x, b.const("w1", w1), b.const("b1", (0.1 * spread).astype(np.float32))],
             name="pw", kernel_shape=(1, 1))  # fmt: skip
    y = b.op("HardSwish" if producer == "hardswish" else "Relu", [y], name="act")
    wd = (rng.standard_normal((c, 1, k, k)) * 0.3).astype(np.float32)
    bd = (rng.standard_normal(c) * 0.05).astype(np.float32)
    y = b.op("Conv", [y, b.const("wd", wd), b.const("bd", bd)], name="dw", group=c,
             pads=(k // 2,) * 4, kernel_shape=(k, k))  # fmt: skip
    b.output(y)
    return b.build()


def _samples(rng, n=4):
    return [{"x": rng.standard_normal((1, 8, 10, 10)).astype(np.float32)} for _ in range(n)]


def test_channel_shifts_bring_each_range_within_4x_of_the_largest():
    w = np.ones((4, 1, 3, 3))
    s = channel_shifts(np.array([8.0, 4.1, 1.0, 0.0]), w)
    # 8/4.1 < 4: no shift; 1.0 lifted to 4 (one bit of HEADROOM below 8); a dead channel stays
    assert s.tolist() == [0, 0, 2, 0]
    s = channel_shifts(np.array([1.0, 1e-9]), np.ones((2, 1, 3, 3)))
    assert s.tolist() == [0, 8]  # capped at MAX_SHIFT
    # filter exponents: channel 1's filter is 2^-10 of channel 0's; a shift of 8 would spread
    # them by 18 > 15, so it is cut to 5
    w = np.ones((2, 1, 3, 3))
    w[1] *= 2.0**-10
    assert channel_shifts(np.array([1.0, 1e-9]), w).tolist() == [0, 5]


@pytest.mark.parametrize("producer", ["hardswish", "relu"])
def test_equalized_graph_computes_the_same_function(rng, producer):
    g = _graph(rng, producer=producer)
    samples = _samples(rng)
    eq, done = equalize_depthwise_inputs(g, samples)
    assert done and done["dw"] >= 3
    ops = [n.op for n in eq.nodes]
    if producer == "hardswish":  # a float producer: a per-channel Mul before the conv
        assert ops == ["Conv", "HardSwish", "Mul", "Conv"]
        assert np.array_equal(eq.constants[eq.node("pw").inputs[1]], g.constants["w1"])
    else:  # conv -> relu: folded into the producer's rows, no new op
        assert ops == ["Conv", "Relu", "Conv"]
        assert not np.array_equal(eq.constants[eq.node("pw").inputs[1]], g.constants["w1"])
    for feed in _samples(rng, 2):
        want, got = run_graph(g, feed)[g.outputs[0]], run_graph(eq, feed)[g.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_depthwise_after_int8_data_movement_is_left_alone(rng):
    b = GraphBuilder("eq2", opset=13)
    x = b.input("x", (1, 16, 10, 10))
    wd = (rng.standard_normal((16, 1, 3, 3))).astype(np.float32)
    y = b.op("MaxPool", [x], kernel_shape=(2, 2), strides=(2, 2))
    b.output(b.op("Conv", [y, b.const("wd", wd)], name="dw", group=16, pads=(1,) * 4,
                  kernel_shape=(3, 3)))  # fmt: skip
    g = b.build()
    spread = 2.0 ** -rng.integers(0, 6, (1, 16, 1, 1))
    feeds = [{"x": (rng.standard_normal((1, 16, 10, 10)) * spread).astype(np.float32)}]
    eq, done = equalize_depthwise_inputs(g, feeds)
    assert eq is g and not done


@pytest.mark.parametrize("producer", ["hardswish", "relu"])
def test_equalization_lowers_the_int8_error_of_the_depthwise_conv(cfg, rng, producer):
    g = _graph(rng, producer=producer)
    calib, evals = _samples(rng, 4), _samples(rng, 4)

    def err(equalize):
        res = compile_for_accel(g, cfg, calib, equalize=equalize)
        assert "dw" in [layer.anchor for layer in res.plan.layers]
        got = np.stack([run_graph(res.graph, f)[g.outputs[0]] for f in evals])
        want = np.stack([run_graph(g, f)[g.outputs[0]] for f in evals])
        return float(np.linalg.norm(got - want) / np.linalg.norm(want))

    before, after = err(False), err(True)
    assert after < before, (before, after)


def _se_block(rng, c=16, classifier=True):
    """conv -> HardSwish -> depthwise -> SE (GAP, 1x1 conv, Relu, 1x1 conv, HardSigmoid, Mul)
    -> pw conv, then optionally GAP -> 1x1 conv classifier (not an SE conv)."""
    b = GraphBuilder("se", opset=13)
    x = b.input("x", (1, 8, 12, 12))

    def w(name, shape, scale=0.3):
        return b.const(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    y = b.op("HardSwish", [b.op("Conv", [x, w("w0", (c, 8, 1, 1))], name="c0")])
    y = b.op("Conv", [y, w("wd", (c, 1, 3, 3)), w("bd", (c,), 0.1)], name="dw", group=c,
             pads=(1,) * 4, kernel_shape=(3, 3))  # fmt: skip
    y = b.op("Relu", [y])
    s = b.op("GlobalAveragePool", [y])
    s = b.op("Relu", [b.op("Conv", [s, w("ws1", (4, c, 1, 1)), w("bs1", (4,), 0.1)], name="se1")])
    s = b.op("Conv", [s, w("ws2", (c, 4, 1, 1))], name="se2")
    s = b.op("Add", [s, w("bs2", (1, c, 1, 1), 0.1)])
    s = b.op("HardSigmoid", [s], alpha=0.2, beta=0.5)
    y = b.op("Mul", [y, s])
    y = b.op("Conv", [y, w("w3", (c, c, 1, 1))], name="c3")
    if classifier:
        y = b.op("Conv", [b.op("GlobalAveragePool", [y]), w("wc", (10, c, 1, 1))], name="cls")
    b.output(y)
    return b.build()


def test_squeeze_excite_convs_are_found_and_kept_float_by_default(cfg, rng):
    from compiler.graph.quant.squeeze_excite import squeeze_excite_convs

    g = _se_block(rng)
    assert squeeze_excite_convs(g) == {"se1": 16 * 4, "se2": 4 * 16}  # not the classifier
    calib = [{"x": rng.standard_normal((1, 8, 12, 12)).astype(np.float32)} for _ in range(3)]
    res = compile_for_accel(g, cfg, calib)
    convs = {"c0", "dw", "se1", "se2", "c3", "cls"}  # (the pools are int8 depthwise convs too)
    assert [la.anchor for la in res.plan.layers if la.anchor in convs] == ["c0", "dw", "c3", "cls"]
    assert "squeeze-excite" in res.plan.kept_float["se1"]
    assert "64 MACs" in res.plan.kept_float["se2"]
    res = compile_for_accel(g, cfg, calib, float_squeeze_excite=False)
    convs_in_order = ["c0", "dw", "se1", "se2", "c3", "cls"]
    assert [la.anchor for la in res.plan.layers if la.anchor in convs] == list(convs_in_order)


def test_equalize_auto_keeps_the_quantization_closer_to_the_float_outputs(rng, cfg):
    """equalize="auto" quantizes both ways and keeps the one with the smaller output error on
    the calibration samples, saying which and both errors."""
    from compiler.graph.quant.compare import output_error

    g = _graph(rng, producer="relu")
    calib = _samples(rng, 3)
    res = compile_for_accel(g, cfg, calib, equalize="auto")
    eq = res.calibration.equalize
    assert set(eq) >= {"equalized", "error_plain", "error_equalized", "layers"}
    assert eq["equalized"] == (eq["error_equalized"] < eq["error_plain"])
    for flag, key in ((False, "error_plain"), (True, "error_equalized")):
        one = compile_for_accel(g, cfg, calib, equalize=flag)
        assert output_error(one.float_graph, one.calibration.quant_graph, calib) == eq[key]
    with pytest.raises(ValueError, match="equalize"):
        compile_for_accel(g, cfg, calib, equalize="sometimes")
