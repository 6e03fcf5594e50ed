"""Per-channel weight quantization: the reference semantics of the per-channel shift vectors,
the quantize pass's exponents and biases, and the error it saves."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.parser import parse_graph
from compiler.graph.passes.pack_layout import pack_layout
from compiler.graph.passes.partition import partition
from compiler.graph.printer import print_graph
from compiler.graph.quant.calibrate import calibrate, pow2_exponent
from compiler.graph.quant.per_channel import MAX_CHANNEL_SPREAD, weight_exponents
from compiler.graph.quant.quantize import quantize_int8
from compiler.graph.quant.report import quantization_error
from compiler.graph.ref.vtac_ops import pack_array
from compiler.graph.verifier import verify
from hw_sim.config import load_config
from tests.graph.helpers import ops


def _py_round_shift(a: int, s: int) -> int:
    return (a + (1 << (s - 1))) // (1 << s) if s > 0 else a * (1 << -s)


def _run_node(op, inputs, consts, attrs, shape, out_dtype):
    b = GraphBuilder("one")
    names = []
    for i, v in enumerate(inputs):
        names.append(b.input(f"in{i}", v.shape, str(v.dtype)))
    for i, v in enumerate(consts):
        names.append(b.const(f"c{i}", v))
    b.output(b.op(op, names, name="n", out="y", **attrs))
    g = b.build()
    return run_graph(g, {f"in{i}": v for i, v in enumerate(inputs)})["y"]


def test_per_channel_requantize_reference_plain_and_packed(rng):
    acc = rng.integers(-(2**20), 2**20, (2, 5, 3, 3)).astype(np.int32)
    extra = rng.integers(0, 6, 5).astype(np.int32)
    got = _run_node("vtac.requantize", [acc], [extra], dict(shift=3, lo=-128, hi=127), None, None)
    want = np.empty_like(got)
    for idx in np.ndindex(acc.shape):
        v = _py_round_shift(int(acc[idx]), 3 + int(extra[idx[1]]))
        want[idx] = min(max(v, -128), 127)
    np.testing.assert_array_equal(got, want)
    # Packed layout: channel c = block * bc + lane, the vector padded to whole blocks.
    packed = pack_array(acc, 1, 4)  # (2, 2, 3, 3, 1, 4)
    padded = np.pad(extra, (0, 3))
    attrs = dict(shift=3, lo=-128, hi=127, packed=1)
    got_p = _run_node("vtac.requantize", [packed], [padded], attrs, None, None)
    np.testing.assert_array_equal(got_p, pack_array(want, 1, 4))
    # A negative total shift is a left shift, per channel.
    got_l = _run_node("vtac.requantize", [acc[:, :2] >> 12], [np.int32([0, 2])],
                      dict(shift=-1, lo=-128, hi=127), None, None)  # fmt: skip
    a = (acc[:, :2] >> 12).astype(np.int64)
    want_l = np.clip(np.stack([a[:, 0] << 1, (a[:, 1] + 1) >> 1], 1), -128, 127)
    np.testing.assert_array_equal(got_l, want_l)


def test_add_align_is_a_per_channel_rounding_shift(rng):
    a = rng.integers(-(2**20), 2**20, (1, 4, 2, 2)).astype(np.int32)
    r = rng.integers(-128, 128, (1, 4, 2, 2)).astype(np.int8)
    align = np.int32([0, 1, 5, 15])
    got = _run_node("vtac.add", [a, r], [align], dict(shift_a=1, shift_b=2), None, None)
    want = np.empty_like(got)
    for idx in np.ndindex(a.shape):
        want[idx] = (_py_round_shift(int(a[idx]), int(align[idx[1]])) << 1) + (int(r[idx]) << 2)
    np.testing.assert_array_equal(got, want)
    with pytest.raises(Exception, match="align shifts must be >= 0"):
        _run_node("vtac.add", [a, r], [np.int32([0, -1, 0, 0])], {}, None, None)
    with pytest.raises(Exception, match="3 entries"):
        _run_node("vtac.add", [a, r], [np.int32([0, 1, 0])], {}, None, None)


def _spread_conv(rng, residual=False, bias=True, group=1):
    """Conv whose output channels' weights span 2**-7 .. 2**1 in magnitude."""
    b = GraphBuilder("spread")
    x = b.input("x", (1, 16, 8, 8))
    scale = 2.0 ** rng.uniform(-7, 1, 16)
    w = rng.standard_normal((16, 16 // group, 3, 3)) * scale[:, None, None, None]
    ins = [x, b.const("w", w.astype(np.float32))]
    if bias:
        ins.append(b.const("b", (rng.standard_normal(16) * scale).astype(np.float32)))
    y = b.op("Conv", ins, pads=(1, 1, 1, 1), group=group, name="conv")
    if residual:
        y = b.op("Add", [y, x], name="add")
    b.output(b.op("Relu", [y], name="relu", out="y"))
    return b.build(), w


def _samples(rng, n=4):
    return [{"x": rng.standard_normal((1, 16, 8, 8)).astype(np.float32)} for _ in range(n)]


def test_quantize_gives_each_channel_its_exponent_and_bias(rng):
    g, w = _spread_conv(rng)
    samples = _samples(rng)
    q, plan = quantize_int8(g, calibrate(g, samples))
    verify(q)
    assert ops(q) == ["vtac.quantize", "vtac.conv2d", "vtac.requantize", "vtac.dequantize"]
    layer = plan.layers[0]
    want = [pow2_exponent(float(np.abs(w[c]).max())) for c in range(16)]
    want = np.maximum(want, max(want) - MAX_CHANNEL_SPREAD)
    assert layer.exp_w_channels == want.tolist() and layer.exp_w == max(want)
    conv, rq = q.nodes[1], q.nodes[2]
    wq = q.constants[conv.inputs[1]]
    assert np.abs(wq).reshape(16, -1).max(axis=1).min() >= 64  # every channel uses its range
    bias_f = g.constants["b"].astype(np.float64)
    e_acc = layer.exp_in + want
    np.testing.assert_array_equal(q.constants[conv.inputs[2]], np.rint(bias_f / 2.0**e_acc))
    s = int(rq.attr("shift")) + q.constants[rq.inputs[1]]
    np.testing.assert_array_equal(s, layer.exp_out - e_acc)
    assert int(q.constants[rq.inputs[1]].min()) == 0
    # The printer and parser keep the vector input.
    text = print_graph(q)
    back = parse_graph(text, q.constants)
    verify(back)
    assert print_graph(back) == text
    np.testing.assert_array_equal(run_graph(back, samples[0])["y"], run_graph(q, samples[0])["y"])


def test_per_tensor_option_has_no_vectors(rng):
    g, _ = _spread_conv(rng, residual=True)
    q, plan = quantize_int8(g, calibrate(g, _samples(rng)), per_channel=False)
    assert plan.layers[0].exp_w_channels is None
    assert all(len(n.inputs) == 2 for n in q.nodes if n.op == "vtac.add")
    assert all(len(n.inputs) == 1 for n in q.nodes if n.op == "vtac.requantize")


def test_residual_aligns_the_per_channel_accumulator_first(rng):
    g, _ = _spread_conv(rng, residual=True, bias=False)
    samples = _samples(rng)
    q, plan = quantize_int8(g, calibrate(g, samples))
    assert ops(q) == ["vtac.quantize", "vtac.conv2d", "vtac.add", "vtac.requantize",
                      "vtac.dequantize"]  # fmt: skip
    add, rq = q.nodes[2], q.nodes[3]
    align = q.constants[add.inputs[2]]
    ew = np.array(plan.layers[0].exp_w_channels)
    np.testing.assert_array_equal(align, ew.max() - ew)  # to the largest exponent
    assert len(rq.inputs) == 1  # one exponent after the add: a scalar requantize
    t = quantization_error(g, q, samples)[0]
    pt, _ = quantize_int8(g, calibrate(g, samples), per_channel=False)
    assert t.rel_l2 <= quantization_error(g, pt, samples)[0].rel_l2


def _mixed_conv(rng, group: int):
    """Outputs of one magnitude from weights of very different ranges (as BN folding makes):
    even channels read one input with weight 1, odd channels average all their inputs with
    weights ~ 1/n. One tensor exponent (from the 1s) leaves the small weights a level or two."""
    b = GraphBuilder("mixed")
    x = b.input("x", (1, 16, 8, 8))
    n = (16 // group) * 9
    w = np.zeros((16, 16 // group, 3, 3))
    for c in range(16):
        if c % 2:
            w[c] = (1 + 0.5 * rng.standard_normal(w[c].shape)) / n
        else:
            w[c].reshape(-1)[rng.integers(n)] = 1.0
    y = b.op("Conv", [x, b.const("w", w.astype(np.float32))], pads=(1, 1, 1, 1), group=group,
             name="conv")  # fmt: skip
    b.output(b.op("Relu", [y], name="relu", out="y"))
    return b.build()


@pytest.mark.parametrize("group", [1, 2])
def test_per_channel_lowers_the_error_when_channel_ranges_differ(rng, group):
    g = _mixed_conv(rng, group)
    samples = [{"x": np.abs(rng.standard_normal((1, 16, 8, 8))).astype(np.float32)}
               for _ in range(6)]  # fmt: skip
    ranges = calibrate(g, samples[:4])
    errs = {}
    for per_channel in (False, True):
        q, _ = quantize_int8(g, ranges, per_channel=per_channel)
        errs[per_channel] = quantization_error(g, q, samples[4:])[0].rel_l2
    assert errs[True] < 0.5 * errs[False], errs


def test_exponent_spread_is_clamped_and_zero_channels_take_the_tensor_exponent():
    w = np.zeros((4, 2, 1, 1))
    w[0] = 100.0
    w[1] = 1e-9
    w[2] = 0.01
    e = weight_exponents(w)
    assert e[0] == pow2_exponent(100.0) and e[3] == e[0]  # channel 3 is all zero
    assert e[1] == e[0] - MAX_CHANNEL_SPREAD  # clamped: coarser than it could be, not clipped
    assert e[2] == max(pow2_exponent(0.01), e[0] - MAX_CHANNEL_SPREAD)
    assert (weight_exponents(w, per_channel=False) == e[0]).all()


def test_pack_layout_pads_the_vectors(rng):
    g, _ = _spread_conv(rng, residual=True, bias=True)
    g2, _ = _spread_conv(np.random.default_rng(1))
    cfg = load_config("small")
    for graph in (g, g2):
        samples = _samples(rng)
        q, _ = quantize_int8(graph, calibrate(graph, samples))
        p = pack_layout(partition(q, cfg), cfg)
        verify(p)
        vec_nodes = [n for n in p.nodes if n.op in ("vtac.add", "vtac.requantize")
                     and len(n.inputs) > (2 if n.op == "vtac.add" else 1)]  # fmt: skip
        assert vec_nodes and all(n.attr("packed") == 1 for n in vec_nodes)
        np.testing.assert_array_equal(run_graph(p, samples[0])["y"], run_graph(q, samples[0])["y"])
