"""`vtac inspect`: graph, quantization report, partition and fallback report."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from runtime.cli import main
from tests.graph.models import resnet18


def test_inspect_prints_graph_partition_and_fallbacks(tmp_path, capsys):
    path = tmp_path / "r18.onnx"
    onnx.save(resnet18(image=32, width=8, classes=10), path)
    assert main(["inspect", str(path), "--config", "small"]) == 0
    out = capsys.readouterr().out
    assert "model resnet18: opset 13" in out
    assert "graph resnet18 (opset 13) {" in out
    assert "vtac.conv2d(" in out and "target=accel" in out and "group=" in out
    assert "fusion: " in out
    assert "quantization: 22 layer(s) int8" in out and "relative L2 error" in out
    assert "partition: " in out and "CPU fallback (op: reason -> nodes):" in out
    # the int8 max pool after the stem runs on the accelerator (int8_ops.py, vta/maxpool.py)
    assert "MaxPool:" not in out and "vtac.maxpool(" in out


def test_inspect_needs_shapes_for_symbolic_inputs(tmp_path, capsys):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "sym.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path
    )
    assert main(["inspect", str(path)]) == 1
    assert "--shape x=1,4" in capsys.readouterr().err
    assert main(["inspect", str(path), "--shape", "x=2,4", "--float"]) == 0
    out = capsys.readouterr().out
    assert "%y: f32[2,4] = Relu(%x)" in out and "quantization: skipped" in out


def test_inspect_reports_a_truncated_file(tmp_path, capsys):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07\x12")
    assert main(["inspect", str(path)]) == 1
    assert "bad.onnx" in capsys.readouterr().err


def test_inspect_per_channel_by_default_and_per_tensor_on_request(tmp_path, capsys):
    path = tmp_path / "r18.onnx"
    onnx.save(resnet18(image=32, width=8, classes=10), path)
    counts = {}
    for flags in ([], ["--per-tensor"]):
        assert main(["inspect", str(path), "--config", "small", *flags]) == 0
        out = capsys.readouterr().out
        lines = [ln for ln in out.splitlines() if "= vtac.requantize(" in ln]
        counts[bool(flags)] = sum("_shifts" in ln for ln in lines)
        assert len(lines) >= 21
    assert counts[False] > 0 and counts[True] == 0
