"""The reference executor against onnxruntime and NumPy, op by op, on random inputs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.frontend.onnx_import import import_onnx
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.ir import GraphError

ort = pytest.importorskip("onnxruntime")

# Float tolerance vs onnxruntime: both compute in float32 with different summation orders.
RTOL, ATOL = 1e-4, 1e-5


def _single_op_model(op, x_shape, consts, opset=17, **attrs):
    inits = [onnx.numpy_helper.from_array(v, k) for k, v in consts.items()]
    node = helper.make_node(op, ["x", *consts], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        op,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _check_against_ort(model, x):
    graph = import_onnx(model)
    got = run_graph(graph, {"x": x})["y"]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


CONV_CASES = [
    dict(k=3, stride=1, pads=(1, 1, 1, 1), group=1, dil=1),
    dict(k=3, stride=2, pads=(0, 1, 1, 0), group=1, dil=1),
    dict(k=1, stride=1, pads=(0, 0, 0, 0), group=4, dil=1),
    dict(k=3, stride=1, pads=(2, 2, 2, 2), group=8, dil=2),
    dict(k=5, stride=3, pads=(2, 2, 2, 2), group=2, dil=1),
]


@pytest.mark.parametrize(
    "case", CONV_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items())
)
def test_conv_matches_onnxruntime(case, rng):
    c = 8
    w = rng.standard_normal((16, c // case["group"], case["k"], case["k"])).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    model = _single_op_model(
        "Conv", (2, c, 11, 13), {"w": w, "b": b}, kernel_shape=[case["k"]] * 2,
        strides=[case["stride"]] * 2, pads=list(case["pads"]), group=case["group"],
        dilations=[case["dil"]] * 2,
    )  # fmt: skip
    _check_against_ort(model, rng.standard_normal((2, c, 11, 13)).astype(np.float32))


@pytest.mark.parametrize(
    "op,attrs",
    [
        ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
        ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
        ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
        ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
        ("GlobalAveragePool", {}),
        ("LRN", dict(size=5, alpha=1e-4, beta=0.75, bias=1.0)),
        ("Softmax", dict(axis=1)),
        ("HardSwish", {}),
        ("HardSigmoid", dict(alpha=0.2, beta=0.5)),
        ("Sigmoid", {}),
    ],
)
def test_nn_ops_match_onnxruntime(op, attrs, rng):
    model = _single_op_model(op, (2, 6, 9, 9), {}, **attrs)
    _check_against_ort(model, rng.standard_normal((2, 6, 9, 9)).astype(np.float32))


@pytest.mark.parametrize(
    "mode,ctm",
    [
        ("nearest", "asymmetric"),
        ("linear", "half_pixel"),
        ("linear", "align_corners"),
        ("nearest", "half_pixel"),
    ],
)
def test_resize_matches_onnxruntime(mode, ctm, rng):
    scales = np.array([1, 1, 2, 2], np.float32)
    inits = [onnx.numpy_helper.from_array(scales, "scales")]
    node = helper.make_node(
        "Resize", ["x", "", "scales"], ["y"], mode=mode, coordinate_transformation_mode=ctm
    )
    graph = helper.make_graph(
        [node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    _check_against_ort(model, rng.standard_normal((1, 2, 5, 7)).astype(np.float32))


def test_gemm_and_broadcasting_arithmetic_match_numpy(rng):
    b = GraphBuilder("arith")
    x = b.input("x", (4, 5))
    w = rng.standard_normal((3, 5)).astype(np.float32)
    c = rng.standard_normal(3).astype(np.float32)
    y = b.op("Gemm", [x, b.const("w", w), b.const("c", c)], transB=1, alpha=0.5)
    z = b.op("Mul", [y, b.const("s", np.float32([2.0]))])
    b.output(b.op("Sub", [z, b.const("t", np.ones((4, 1), np.float32))]))
    g = b.build()
    xv = rng.standard_normal((4, 5)).astype(np.float32)
    got = run_graph(g, {"x": xv})[g.outputs[0]]
    np.testing.assert_allclose(got, (0.5 * xv @ w.T + c) * 2 - 1, rtol=1e-5, atol=1e-6)


def test_feed_errors_name_the_input():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3))
    b.output(b.op("Relu", [x]))
    g = b.build()
    with pytest.raises(GraphError, match="no value fed for input\\(s\\) x"):
        run_graph(g, {})
    with pytest.raises(GraphError, match="input 'x': expected shape \\(2, 3\\)"):
        run_graph(g, {"x": np.zeros((3, 2), np.float32)})
    with pytest.raises(GraphError, match="input 'x': expected dtype float32"):
        run_graph(g, {"x": np.zeros((2, 3), np.float64)})
