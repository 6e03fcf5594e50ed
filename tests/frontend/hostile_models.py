"""Hostile ONNX models (malformed sizes, absurd shapes, bad attributes, external data), each
paired with the text its one-line error must contain. Used by tests/frontend/test_onnx_hostile.py
and scripts/fuzz.py (family "onnx"). Files are written into a folder given by the caller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, inputs, outputs, inits=(), opset=13) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "hostile", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _conv(w: np.ndarray | onnx.TensorProto, x_shape=(1, 3, 8, 8), **attrs) -> onnx.ModelProto:
    init = w if isinstance(w, onnx.TensorProto) else numpy_helper.from_array(w, "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", **attrs)
    return _model([node], [_vi("x", list(x_shape))], [_vi("y", None)], [init])


def _w(*shape):
    return np.ones(shape, np.float32)


def _bad_size_initializer() -> onnx.ModelProto:
    t = numpy_helper.from_array(_w(4, 3, 3, 3), "w")
    t.raw_data = t.raw_data[:-12]  # three floats short
    return _conv(t)


def _string_strides() -> onnx.ModelProto:
    m = _conv(_w(4, 3, 3, 3))
    m.graph.node[0].attribute.append(helper.make_attribute("strides", "two"))
    return m


def _reshape_huge() -> onnx.ModelProto:
    shape = numpy_helper.from_array(np.array([10**6, 10**6], np.int64), "s")
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape0")
    return _model([node], [_vi("x", [1, 4])], [_vi("y", None)], [shape])


def _relu(x_shape) -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu0")
    return _model([node], [_vi("x", list(x_shape))], [_vi("y", None)])


def _zero_size_initializer() -> onnx.ModelProto:
    return _conv(np.zeros((0, 3, 3, 3), np.float32))


def _external(location: str) -> onnx.ModelProto:
    t = numpy_helper.from_array(_w(4, 3, 3, 3), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "432")):
        entry = t.external_data.add()
        entry.key, entry.value = k, v
    return _conv(t)


def _old_opset() -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"], name="relu0")
    return _model([node], [_vi("x", [1, 4])], [_vi("y", [1, 4])], opset=9)


# name -> (model builder, text the error must contain; None = must import fine)
HOSTILE_MODELS = {
    "initializer_size_mismatch": (_bad_size_initializer, "initializer 'w'"),
    "huge_input_dims": (lambda: _relu((1, 3, 10**6, 10**6)), "input 'x'"),
    "reshape_to_1e12": (_reshape_huge, "reshape0"),
    "external_data_missing": (lambda: _external("weights.bin"), "initializer 'w'"),
    "external_data_escapes": (lambda: _external("../../etc/passwd"), "outside the model's folder"),
    "external_data_absolute": (lambda: _external("/etc/passwd"), "outside the model's folder"),
    "zero_size_initializer": (_zero_size_initializer, "conv0"),
    "zero_size_input": (lambda: _relu((1, 0, 4)), None),  # legal ONNX: inspects fine
    "conv_1d_weight": (lambda: _conv(_w(27)), "conv0"),
    "conv_stride_0": (lambda: _conv(_w(4, 3, 3, 3), strides=[0, 0]), "conv0"),
    "conv_string_strides": (_string_strides, "conv0"),
    "conv_negative_pads": (lambda: _conv(_w(4, 3, 3, 3), pads=[-9, -9, -9, -9]), "conv0"),
    "conv_kernel_larger_than_input": (lambda: _conv(_w(4, 3, 30, 30)), "conv0"),
    "conv_channel_mismatch": (lambda: _conv(_w(4, 5, 3, 3)), "conv0"),
}


def write_model(name: str, folder: Path) -> Path:
    """Write HOSTILE_MODELS[name] as `folder/<name>/model.onnx` (a folder of its own, so that
    external-data paths are relative to it); returns the path."""
    sub = folder / name
    sub.mkdir(parents=True, exist_ok=True)
    path = sub / "model.onnx"
    path.write_bytes(HOSTILE_MODELS[name][0]().SerializeToString())
    return path
