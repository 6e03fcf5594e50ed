"""The ONNX frontend: constants, shapes, old opsets, and the errors users see."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.frontend.onnx_import import (
    FrontendError,
    ModelFormatError,
    UnsupportedOpsError,
    import_onnx,
)
from compiler.graph.executor import run_graph


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return m


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def test_initializers_and_constant_nodes_become_constants(rng):
    w = rng.standard_normal((3, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.float32([2.0]))),
        helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
        helper.make_node("Mul", ["y", "c"], ["z"], name="mul"),
    ]
    m = _model(nodes, [_vi("x", [2, 3])], [_vi("z", [2, 4])], [numpy_helper.from_array(w, "w")])
    g = import_onnx(m)
    assert set(g.constants) == {"w", "c"} and [n.op for n in g.nodes] == ["MatMul", "Mul"]
    assert str(g.types["z"]) == "f32[2,4]"
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(run_graph(g, {"x": x})["z"], x @ w * 2, rtol=1e-6)


def test_unsupported_ops_are_reported_all_at_once():
    nodes = [
        helper.make_node("Det", ["x"], ["a"], name="e1"),
        helper.make_node("Det", ["x"], ["b"], name="e2"),
        helper.make_node("NonZero", ["b"], ["c"], name="nz"),
        helper.make_node("Resize", ["x", "", "s"], ["d"], antialias=1, name="rs"),
        helper.make_node("MyOp", ["x"], ["e"], domain="com.example", name="custom"),
    ]
    s = numpy_helper.from_array(np.float32([1, 1]), "s")
    m = _model(nodes, [_vi("x", [2, 2])], [_vi("c", None), _vi("d", None), _vi("e", None)], [s])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOpsError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "(opset 17) uses 4 unsupported op(s)" in msg
    assert "Det: used by 2 node(s): e1, e2" in msg
    assert "NonZero: used by 1 node(s): nz" in msg
    assert (
        "Resize with antialias=1 with mode 'nearest' (antialias applies to linear and cubic): "
        "used by 1 node(s): rs" in msg
    )
    assert "com.example::MyOp: used by 1 node(s): custom" in msg
    assert "supported ops: " in msg
    assert e.value.problems["Det"] == ["e1", "e2"]


def test_truncated_empty_and_missing_files_are_clear(tmp_path, rng):
    w = numpy_helper.from_array(rng.standard_normal((64, 64)).astype(np.float32), "w")
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 64])],
               [_vi("y", [1, 64])], [w])  # fmt: skip
    data = m.SerializeToString()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match=r"cut\.onnx: not a valid ONNX model \(malformed"):
        import_onnx(truncated)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFormatError, match="empty.onnx: file is empty"):
        import_onnx(empty)
    with pytest.raises(ModelFormatError, match="ONNX file not found: .*nope.onnx"):
        import_onnx(tmp_path / "nope.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 this is not protobuf \xff" * 10)
    with pytest.raises(ModelFormatError, match="garbage.onnx"):
        import_onnx(garbage)
    # a folder is named, with the models found inside it
    with pytest.raises(ModelFormatError, match=r"is a directory, not an ONNX file; .*cut\.onnx"):
        import_onnx(tmp_path)


def test_symbolic_dims_need_user_shapes(rng):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [x], [_vi("y", None)])
    with pytest.raises(FrontendError, match=r"input 'x' has symbolic shape \(batch,3,h,w\); .*"
                       r"--shape x=1,3,H,W"):  # fmt: skip
        import_onnx(m)
    g = import_onnx(m, shapes={"x": (2, 3, 5, 5)})
    assert g.types["y"].shape == (2, 3, 5, 5)
    with pytest.raises(FrontendError, match="conflicts with declared"):
        import_onnx(m, shapes={"x": (2, 4, 5, 5)})
    with pytest.raises(FrontendError, match="has rank 2"):
        import_onnx(m, shapes={"x": (2, 3)})
    with pytest.raises(FrontendError, match="unknown input"):
        import_onnx(m, shapes={"y": (1,)})


def test_shape_computations_resolve_statically():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array([0], np.int64), "ax"),
        numpy_helper.from_array(np.array([-1], np.int64), "m1"),
    ]
    m = _model(nodes, [_vi("x", [2, 3, 4])], [_vi("y", None)], inits)
    assert import_onnx(m).types["y"].shape == (2, 12)


def test_old_opsets_are_upgraded(rng):
    # Opset 9: Softmax coerces to 2-D at axis 1, Clip takes min/max attributes.
    nodes = [
        helper.make_node("Clip", ["x"], ["c"], min=-0.5, max=0.5),
        helper.make_node("Softmax", ["c"], ["y"]),
    ]
    m = _model(nodes, [_vi("x", [2, 3, 4])], [_vi("y", [2, 3, 4])], opset=9)
    g = import_onnx(m)
    assert g.opset >= 11
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    c = np.clip(x, -0.5, 0.5).reshape(2, 12)
    want = (np.exp(c) / np.exp(c).sum(1, keepdims=True)).reshape(2, 3, 4)
    np.testing.assert_allclose(run_graph(g, {"x": x})["y"], want, rtol=1e-5)


def test_bind_freezes_an_input():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    m = _model(nodes, [_vi("x", [2, 6]), _vi("shape", [2], TensorProto.INT64)], [_vi("y", None)])
    g = import_onnx(m, bind={"shape": np.array([3, 4], np.int64)})
    assert g.inputs == ("x",) and g.types["y"].shape == (3, 4)
    with pytest.raises(FrontendError, match="cannot bind 'nope'"):
        import_onnx(m, bind={"nope": np.zeros(1)})


def test_onnx_is_imported_in_one_module_only():
    """Only compiler/frontend/onnx_import.py imports onnx, across the library packages."""
    import pathlib
    import re

    pattern = re.compile(r"^\s*(import onnx\b|from onnx\b)", re.MULTILINE)
    root = pathlib.Path(__file__).resolve().parents[2]
    importers = sorted(
        str(path.relative_to(root))
        for package in ("compiler", "runtime", "hw_sim")
        for path in (root / package).rglob("*.py")
        if pattern.search(path.read_text())
    )
    assert importers == ["compiler/frontend/onnx_import.py"]
    assert onnx  # the tests themselves may use it
