"""Data-aware (GPTQ) int8 weight rounding: im2col patches, the rounding itself on planted
weights and inputs, and the quantized graph it gives (error vs round-to-nearest; bit-exact on
hw_sim like any int8 graph)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.quant.choose import quantize_calibrated
from compiler.graph.quant.weight_rounding import (
    SecondMoments,
    conv_patches,
    gptq_round,
    round_weights,
)
from compiler.graph.ref.nn import conv_nd


@pytest.mark.parametrize(
    "group, cin, cout, k, stride, dil, pads",
    [(1, 4, 6, 3, 1, 1, (1, 1, 1, 1)), (2, 4, 6, 3, 2, 1, (0, 1, 1, 0)),
     (4, 4, 4, 3, 1, 2, (2, 2, 2, 2)), (1, 3, 5, 1, 1, 1, (0, 0, 0, 0))],
)  # fmt: skip
def test_conv_patches_times_weights_is_the_convolution(rng, group, cin, cout, k, stride, dil,
                                                       pads):  # fmt: skip
    x = rng.standard_normal((2, cin, 9, 11)).astype(np.float32)
    w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32)
    attrs = {"strides": [stride] * 2, "dilations": [dil] * 2, "pads": list(pads), "group": group}
    want = conv_nd(x, w, [stride] * 2, list(pads[:2]), list(pads[2:]), [dil] * 2, group,
                   acc_dtype=np.float64)  # fmt: skip
    p = conv_patches(x, attrs, (k, k))
    per = cout // group
    assert p.shape == (group, want.shape[0] * want.shape[2] * want.shape[3], cin // group * k * k)
    got = np.stack([p[i] @ w[i * per : (i + 1) * per].reshape(per, -1).T for i in range(group)])
    n, _, oh, ow = want.shape
    got = got.reshape(group, n, oh, ow, per).transpose(1, 0, 4, 2, 3).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _rel(q, w, x):
    return float(np.linalg.norm((q - w) @ x.T) / np.linalg.norm(w @ x.T))


def test_equal_weights_no_longer_round_the_same_way(rng):
    """The ONNX test models' fills: one weight value per tensor. Nearest rounding of 81.92 is
    82 everywhere, a gain of 1.00098 on the output; GPTQ mixes 82 and 81 to keep the sum."""
    x = rng.standard_normal((4000, 64)) * 0.2 + 1.0  # correlated, positive-mean inputs
    w = np.full((8, 64), 81.92)
    m = SecondMoments(1, 64)
    m.add(x[None].astype(np.float32))
    q = gptq_round(w, m.hessian(0))
    assert set(np.unique(q)) == {81.0, 82.0}
    near = np.rint(w)
    assert _rel(near, w, x) == pytest.approx(0.08 / 81.92, rel=1e-6)
    assert _rel(q, w, x) < _rel(near, w, x) / 5


def test_gptq_is_no_worse_than_nearest_on_random_layers(rng):
    k = 96
    mix = np.eye(k) + 0.5 * rng.standard_normal((k, k)) / np.sqrt(k)
    x = rng.standard_normal((3000, k)) @ mix
    w = rng.standard_normal((16, k)) * 40
    w[0, 0] = 300.0  # beyond int8: clipped either way
    m = SecondMoments(1, k)
    m.add(x[None].astype(np.float32))
    q = gptq_round(w, m.hessian(0))
    assert np.all(np.abs(q) <= 127) and np.array_equal(q, np.rint(q))
    near = np.clip(np.rint(w), -127, 127)
    assert _rel(q, w, x) < _rel(near, w, x)
    # Every weight is the integer just below or just above its float value (clipped at 127).
    assert np.all((q == np.floor(w)) | (q == np.floor(w) + 1) | (np.abs(q) == 127))


def test_few_patches_shrink_towards_the_diagonal_but_keep_the_mean(rng):
    """A dense layer sees one row per image: with P << K, H keeps the mean direction (the
    systematic gain) and is otherwise nearly diagonal (no fit to those few rows' noise)."""
    k = 256
    x = rng.standard_normal((4, k)) + 2.0
    m = SecondMoments(1, k)
    m.add(x[None].astype(np.float32))
    h = m.hessian(0)
    mu = x.mean(axis=0) * m.scale  # the moments are of the inputs scaled by one constant
    off = h - np.diag(np.diag(h)) - 4 * (np.outer(mu, mu) - np.diag(mu * mu))
    assert np.abs(off).max() < 0.05 * np.abs(np.outer(mu, mu)).max()
    w = np.full((4, k), 20.3)
    q = round_weights(w * 2.0**-6, np.full(4, -6), m)
    assert _rel(q, w, x) < _rel(np.rint(w), w, x) / 5


def _equal_weight_net(rng):
    """conv -> relu -> conv -> relu -> dense, every weight tensor one repeated value, chosen
    to round badly to nearest: 66.4, 68.4 and 70.4 steps of their power-of-two scales."""
    b = GraphBuilder("fills")
    x = b.input("x", (1, 8, 10, 10))
    y = b.op("Conv", [x, b.const("w1", np.full((16, 8, 3, 3), 66.4 * 2.0**-12, np.float32)),
                      b.const("b1", np.full(16, 0.02, np.float32))], pads=(1, 1, 1, 1),
             name="c1")  # fmt: skip
    y = b.op("Relu", [y], name="r1")
    y = b.op("Conv", [y, b.const("w2", np.full((16, 16, 3, 3), 68.4 * 2.0**-13, np.float32))],
             pads=(1, 1, 1, 1), name="c2")  # fmt: skip
    y = b.op("Relu", [y], name="r2")
    y = b.op("Flatten", [y], name="flat")
    y = b.op("Gemm", [y, b.const("fc", np.full((10, 1600), 70.4 * 2.0**-16, np.float32))], transB=1,
             name="fc", out="y")  # fmt: skip
    b.output(y)
    return b.build()


def _images(rng, n):
    # Smooth, positive-mean inputs like normalized photos (neighbouring pixels correlated).
    out = []
    for _ in range(n):
        base = rng.uniform(-1, 1.5, (1, 8, 1, 1))
        grad = np.linspace(0, 1, 10)[None, None, :, None] * rng.uniform(-1, 1, (1, 8, 1, 1))
        out.append({"x": (base + grad + 0.1 * rng.standard_normal((1, 8, 10, 10))
                          ).astype(np.float32)})  # fmt: skip
    return out


def test_gptq_beats_nearest_end_to_end_on_equal_weights(rng):
    g = _equal_weight_net(rng)
    calib = _images(rng, 6)
    evals = calib  # no clipping at max ranges: weight rounding dominates, not the ranges

    def error(rounding):
        q, _, _ = quantize_calibrated(g, calib, "max", weight_rounding=rounding)
        want = np.stack([run_graph(g, f)["y"] for f in evals])
        got = np.stack([run_graph(q, f)["y"] for f in evals])
        return float(np.linalg.norm(got - want) / np.linalg.norm(want)), q

    e_near, q_near = error("nearest")
    e_gptq, q_gptq = error("gptq")
    assert e_gptq < e_near / 2, (e_gptq, e_near)
    wq = [v for v in q_gptq.constants if v.endswith("_wq")]
    assert wq and all(q_gptq.constants[v].dtype == np.int8 for v in wq)
    assert any(np.unique(q_gptq.constants[v]).size > 1 for v in wq)  # mixed rounding
    assert all(np.unique(q_near.constants[v]).size == 1 for v in wq)
    with pytest.raises(ValueError, match="weight rounding"):
        quantize_calibrated(g, calib, "max", weight_rounding="floor")


@pytest.mark.sim
def test_gptq_weights_run_bit_exact_on_hw_sim(default_cfg, rng):
    from compiler.driver.compile_model import compile_model
    from runtime.executor import Executor, compare_integer_values, reference_values

    g = _equal_weight_net(rng)
    model = compile_model(g, default_cfg, _images(rng, 4),
                          quant_options={"weight_rounding": "gptq"})  # fmt: skip
    assert not model.meta["fallbacks"] and len(model.accel_launches()) >= 3
    feed = _images(rng, 1)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []


def test_huge_activations_do_not_overflow_the_moments(rng):
    """The light models' generated weights grow activations to 1e15 and beyond: their squares
    overflow float32 unless the moments are scaled (the rounding does not depend on H's scale)."""
    x = (rng.standard_normal((500, 32)) * 0.2 + 1.0) * 1e22
    w = np.full((4, 32), 40.3)
    m = SecondMoments(1, 32)
    m.add(x[None].astype(np.float32))
    h = m.hessian(0)
    assert np.isfinite(h).all()
    q = gptq_round(w, h)
    assert np.isfinite(q).all() and set(np.unique(q)) == {40.0, 41.0}
    bad = np.full((32, 32), np.inf)
    assert np.array_equal(gptq_round(w, bad), np.rint(w))  # unusable statistics: nearest
