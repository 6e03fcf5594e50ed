"""`vtac inspect --quant-report / --keep-float / --calib skimage` and `vtac compile --calib
skimage --keep-float`: the per-layer error table, worst first, and float-kept layers."""

from __future__ import annotations

import re

import onnx
import pytest

from runtime.cli import main
from runtime.sample_images import image_paths
from tests.graph.models import resnet18


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("qr") / "r18.onnx"
    onnx.save(resnet18(image=32, width=8, classes=10), path)
    return path


def _table(out: str) -> list[tuple[str, float, str]]:
    """(layer, SQNR, calibration) rows of the per-layer table."""
    rows = re.findall(r"^  (\S+)\s+(-?[\d.]+|inf)\s+[\d.]+%\s+[\d.]+%\s+(\S+ / \S+)", out, re.M)
    return [(name, float(sqnr), cal) for name, sqnr, cal in rows]


def test_quant_report_is_worst_first_and_keep_float_removes_a_layer(small_onnx, capsys):
    args = ["inspect", str(small_onnx), "--config", "small", "--quant-report", "--method", "auto"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "per-layer int8 error (22 layer(s)" in out  # + the global pool (a depthwise conv)
    rows = _table(out)
    assert len(rows) == 22  # 20 convs, the dense and the global pool (a depthwise conv)
    sqnr = [r[1] for r in rows]
    assert sqnr == sorted(sqnr)  # worst (lowest SQNR) first
    assert all(re.fullmatch(r"\w+ / \w+", r[2]) for r in rows)  # the method chosen is named
    worst = rows[0][0]
    assert main([*args, "--keep-float", worst]) == 0
    out = capsys.readouterr().out
    assert "quantization: 21 layer(s) int8" in out
    assert f"{worst}: float (kept in float (--keep-float))" in out
    assert worst not in [r[0] for r in _table(out)]


def test_keep_float_rejects_unknown_and_non_layer_nodes(small_onnx, capsys):
    base = ["inspect", str(small_onnx), "--config", "small"]
    assert main([*base, "--keep-float", "conv3,nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--keep-float nope: no node of that name" in err
    assert main([*base, "--keep-float", "relu11"]) == 1
    assert "--keep-float relu11: node is a Relu, not a conv/dense layer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--calib", "photos"])
    assert "must be a positive integer or 'skimage'" in capsys.readouterr().err


def test_inspect_and_compile_on_skimage_photos(small_onnx, tmp_path, capsys):
    args = ["inspect", str(small_onnx), "--config", "small", "--calib", "skimage",
            "--bias-correction"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "calibrated on 10 skimage photos, measured on 10 others" in out
    assert "relative L2 error" in out and "top-1 agreement" in out
    art = tmp_path / "r.vtac"
    compile_args = ["compile", str(small_onnx), "--config", "small", "--calib", "skimage",
                    "--keep-float", "conv3", "--quant-method", "auto", "--bias-correction",
                    "-o", str(art)]  # fmt: skip
    assert main(compile_args) == 0
    cap = capsys.readouterr()
    assert "no --calib given" not in cap.err and "artifact written" in cap.out
    from runtime.artifact import load_artifact

    model = load_artifact(art)
    assert model.meta["calibration"] == "10 skimage calibration photos"
    # Corrected biases are plain int32 constants: hw_sim still matches the int8 reference.
    assert main(["run", str(art), "--input", str(image_paths("evaluation")[0])]) == 0
    assert "bit-exact with the int8 reference executor" in capsys.readouterr().out
    assert main(["compile", str(small_onnx), "--calib", "skimage", "--keep-float", "x1",
                 "-o", str(art)]) == 1  # fmt: skip
    assert "--keep-float x1: no node of that name" in capsys.readouterr().err
