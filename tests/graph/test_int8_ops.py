"""int8 through data movement (`compiler/graph/quant/int8_ops.py`) and `vtac.maxpool`."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.pipeline import compile_for_accel, optimize
from compiler.graph.quant.calibrate import calibrate
from compiler.graph.quant.quantize import quantize_int8
from compiler.graph.ref import KERNELS, KernelCtx
from compiler.graph.ref.vtac_ops import quantize_array
from compiler.graph.verifier import verify
from hw_sim.config import load_config
from tests.graph.helpers import ops, random_feeds
from tests.model.int8_blocks import conv_pool_conv, yolo_blocks


def _quantized(g, rng, n=2):
    fg = optimize(g)
    ranges = calibrate(fg, [random_feeds(fg, rng) for _ in range(n)])
    q, plan = quantize_int8(fg, ranges)
    verify(q)
    return fg, q


def _producer(g, value):
    return next(n for n in g.nodes if value in n.outputs)


@pytest.mark.parametrize(
    "k,s,pads", [((3, 3), (2, 2), (1, 1, 1, 1)), ((5, 5), (1, 1), (2, 2, 2, 2)),
                 ((2, 3), (2, 1), (0, 1, 1, 0)), ((1, 1), (1, 1), (0, 0, 0, 0))],
)  # fmt: skip
def test_maxpool_commutes_with_quantization(rng, k, s, pads):
    """maxpool(quantize(x)) == quantize(MaxPool(x)) exactly, in both layouts."""
    x = rng.standard_normal((2, 5, 9, 11)).astype(np.float32)
    attrs = {"kernel_shape": k, "strides": s, "pads": pads}
    want = quantize_array(KERNELS["MaxPool"](KernelCtx(attrs, 17, "p", "MaxPool"), x), -5)
    got = KERNELS["vtac.maxpool"](KernelCtx(attrs, 17, "p", "vtac.maxpool"), quantize_array(x, -5))
    np.testing.assert_array_equal(got, want)
    from compiler.graph.ref.vtac_ops import pack_array, unpack_array

    packed = KERNELS["vtac.maxpool"](
        KernelCtx({**attrs, "packed": 1}, 17, "p", "vtac.maxpool"),
        pack_array(quantize_array(x, -5), 1, 4),
    )
    np.testing.assert_array_equal(unpack_array(packed, 2, 5), want)


def test_maxpool_rejects_pads_as_large_as_the_kernel():
    ctx = KernelCtx({"kernel_shape": (2, 2), "pads": (2, 0, 0, 0)}, 17, "p", "vtac.maxpool")
    with pytest.raises(ValueError, match="vtac.maxpool node 'p'.*smaller than the kernel"):
        KERNELS["vtac.maxpool"](ctx, np.zeros((1, 1, 4, 4), np.int8))


def test_no_dequantize_quantize_pair_around_maxpool_and_concat(rng):
    """Between two quantized convs, MaxPool and Concat stay int8: no float round trip."""
    for g in (conv_pool_conv(), yolo_blocks()):
        fg, q = _quantized(g, rng)
        names = ops(q)
        assert "MaxPool" not in names and "vtac.maxpool" in names
        assert names.count("vtac.quantize") == 1  # the model input only
        assert names.count("vtac.dequantize") == 1  # the model output only
        for n in q.nodes:
            if n.op in ("vtac.maxpool", "Concat", "Split", "vtac.upsample"):
                assert all(q.types[v].dtype == "int8" for v in (*n.inputs[:1], *n.outputs))
                assert _producer(q, n.inputs[0]).op != "vtac.quantize"
        # the int8 graph stays close to the float one
        feeds = random_feeds(fg, rng)
        want, got = run_graph(fg, feeds), run_graph(q, feeds)
        for k in g.outputs:
            err = np.linalg.norm(got[k] - want[k]) / np.linalg.norm(want[k])
            assert err < 0.08, (g.name, err)


def _two_convs_into(op_builder, rng, scale_b=1.0):
    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 4, 8, 8))

    def conv(v, cout, scale, name):
        w = b.const("w", (rng.standard_normal((cout, 4, 3, 3)) * scale).astype(np.float32))
        return b.op("Conv", [v, w], pads=(1,) * 4, name=name)

    ya, yb = conv(x, 8, 0.3, "ca"), conv(x, 8, 0.3 * scale_b, "cb")
    b.output(op_builder(b, ya, yb))
    return b.build()


def test_concat_operands_read_only_by_it_share_its_exponent(rng):
    """Each producer requantizes straight to the concat's calibrated grid: one rounding, no
    aligning step (`quant/concat_ranges.py`)."""
    g = _two_convs_into(lambda b, ya, yb: b.op("Concat", [ya, yb], axis=1), rng, scale_b=8.0)
    fg, q = _quantized(g, rng)
    cat = next(n for n in q.nodes if n.op == "Concat")
    producers = [_producer(q, v) for v in cat.inputs]
    assert all(p.op == "vtac.requantize" and p.inputs[0].endswith("_acc") for p in producers)
    exps = {n.attr("exp") for n in q.nodes if n.op == "vtac.dequantize"}
    assert len(exps) == 1  # the concat's output is the only value read in float


def test_concat_aligns_an_operand_read_elsewhere_by_a_rounding_shift(rng):
    def build(b, ya, yb):
        b.output(ya)  # ya keeps its own grid for this reader
        return b.op("Concat", [ya, yb], axis=1)

    g = _two_convs_into(build, rng, scale_b=8.0)
    fg, q = _quantized(g, rng)
    cat = next(n for n in q.nodes if n.op == "Concat")
    producers = [_producer(q, v) for v in cat.inputs]
    shifts = [p.attr("shift") for p in producers if p.name.endswith("_requantize")
              and p.op == "vtac.requantize" and p.inputs[0].endswith("_q")]  # fmt: skip
    assert shifts and all(s > 0 for s in shifts)  # the finer input is shifted right to align


def test_standalone_add_of_two_int8_tensors(rng):
    def build(b, ya, yb):
        # both conv outputs are also graph outputs: no conv epilogue can claim the add
        b.output(ya, yb)
        return b.op("Add", [ya, yb], name="add")

    g = _two_convs_into(build, rng)
    fg, q = _quantized(g, rng)
    add = next(n for n in q.nodes if n.op == "vtac.add")
    assert add.name == "add" and all(q.types[v].dtype == "int8" for v in add.inputs)
    rq = next(n for n in q.nodes if n.op == "vtac.requantize" and n.inputs == add.outputs)
    assert q.types[rq.outputs[0]].dtype == "int8"
    cfg = load_config("small")
    part = compile_for_accel(g, cfg, [random_feeds(fg, rng) for _ in range(2)]).graph
    assert next(n for n in part.nodes if n.op == "vtac.add").target == "accel"


def test_data_movement_ops_keep_the_exponent(rng):
    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 3, 8, 8))
    w = b.const("w", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, w], pads=(1,) * 4, name="c")])
    y = b.op("Pad", [y, b.const("p", np.array([0, 0, 1, 1, 0, 0, 1, 1]))], mode="constant")
    y = b.op("Resize", [y, "", b.const("s", np.array([1, 1, 2, 2], np.float32))], mode="nearest")
    sizes = b.const("sz", np.array([1, 8, 40, 40]))  # x2 by `sizes` (N and C named too)
    y = b.op("Resize", [y, "", "", sizes], mode="nearest",
             coordinate_transformation_mode="asymmetric")  # fmt: skip
    y = b.op("Resize", [y, "", b.const("s3", np.array([1, 1, 3, 3], np.float32))], mode="nearest")
    y = b.op("Slice", [y, b.const("st", np.array([0])), b.const("en", np.array([4])),
                       b.const("ax", np.array([1]))])  # fmt: skip
    y = b.op("Clip", [y, b.const("lo", np.float32(0.1)), b.const("hi", np.float32(1.0))])
    w2 = b.const("w2", (rng.standard_normal((8, 4, 1, 1)) * 0.3).astype(np.float32))
    b.output(b.op("Conv", [y, w2], name="c2"))
    g = b.build()
    fg, q = _quantized(g, rng)
    names = ops(q)
    ups = [n for n in q.nodes if n.op == "vtac.upsample"]  # the two x2 nearest resizes
    assert len(ups) == 2 and all(q.types[n.inputs[0]].dtype == "int8" for n in ups)
    for op in ("Pad", "Resize", "Slice"):  # x3 stays an int8 Resize (CPU)
        n = next(n for n in q.nodes if n.op == op)
        assert q.types[n.inputs[0]].dtype == "int8" and q.types[n.outputs[0]].dtype == "int8"
    assert "Clip" not in names and names.count("vtac.quantize") == 1
    feeds = random_feeds(fg, rng)
    want, got = run_graph(fg, feeds)[g.outputs[0]], run_graph(q, feeds)[g.outputs[0]]
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.08


def test_float_inputs_keep_float_data_movement(rng):
    """A MaxPool of the float model input stays float: quantizing it would add rounding error
    where the float model had none (the rules need an int8 form made by quantized work)."""
    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 3, 8, 8))
    w = b.const("w", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32))
    p = b.op("MaxPool", [x], kernel_shape=(2, 2), strides=(2, 2))
    b.output(b.op("Conv", [x, w], pads=(1,) * 4), p)
    fg, q = _quantized(b.build(), rng)
    assert "MaxPool" in ops(q) and "vtac.maxpool" not in ops(q)


def test_nonzero_pad_and_linear_resize_stay_float(rng):
    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 3, 8, 8))
    w = b.const("w", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32))
    y = b.op("Conv", [x, w], pads=(1,) * 4)
    p = b.op("Pad", [y, b.const("p", np.array([0, 0, 1, 1, 0, 0, 1, 1])),
                     b.const("v", np.float32(1.0))], mode="constant")  # fmt: skip
    r = b.op("Resize", [y, "", b.const("s", np.array([1, 1, 2, 2], np.float32))], mode="linear")
    b.output(p, r)
    fg, q = _quantized(b.build(), rng)
    for n in q.nodes:
        if n.op in ("Pad", "Resize"):
            assert q.types[n.outputs[0]].dtype == "float32"


def test_vtac_maxpool_node_verifies_and_round_trips_through_text():
    from compiler.graph.parser import parse_graph

    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 16, 6, 6), "int8")
    b.output(b.op("vtac.maxpool", [x], kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)))
    g = b.build()
    assert g.types[g.outputs[0]].shape == (1, 16, 3, 3)
    assert str(parse_graph(str(g))) == str(g)


def test_vtac_maxpool_window_larger_than_the_input_is_refused():
    from compiler.graph.ir import GraphError

    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 16, 2, 2), "int8")
    with pytest.raises(GraphError, match="'big' \\(vtac.maxpool\\): the 5x5 window is larger"):
        b.op(
            "vtac.maxpool", [x], kernel_shape=(5, 5), strides=(1, 1), pads=(1, 1, 1, 1), name="big"
        )
