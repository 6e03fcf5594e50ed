"""`vtac compile --config mul` end to end: HardSwish on the accelerator, the summary and `vtac
inspect` say the program uses the ALU's MUL (not portable to VTA's Chisel/HLS); `vtac run` is
bit-exact. With the default config nothing mentions MUL."""

from __future__ import annotations

import json
import re

import pytest

from compiler.frontend.onnx_import import export_onnx
from runtime.cli import main
from tests.model.mul_blocks import affine_block

pytestmark = pytest.mark.sim


def test_compile_run_and_inspect_with_the_mul_config(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    export_onnx(affine_block(), path)
    out = tmp_path / "m.vtac"
    assert main(["compile", str(path), "--config", "mul", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"[23] accelerator launch\(es\) use the ALU's MUL", text), text
    assert "not portable" in text
    assert main(["run", str(out)]) == 0
    assert "bit-exact" in capsys.readouterr().out
    assert main(["inspect", str(path), "--config", "mul", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"] == "mul" and doc["alu_mul_nodes"]  # its own calibration samples
    assert main(["compile", str(path), "-o", str(tmp_path / "d.vtac")]) == 0
    assert "MUL" not in capsys.readouterr().out
