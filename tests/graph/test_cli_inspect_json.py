"""`vtac inspect --json`: the partition summary as one JSON object, and built-in model names."""

from __future__ import annotations

import json

import numpy as np
import onnx

from compiler.graph.passes.partition import node_macs, partition_report
from compiler.graph.pipeline import compile_for_accel
from compiler.models import yolo
from runtime.cli import main
from tests.graph.models import resnet18

KEYS = {"model", "config", "quantized", "fusion_groups", "accel_nodes", "cpu_nodes",
        "accel_macs", "cpu_macs", "padding_macs", "accel_share", "boundary_crossings",
        "boundary_bytes", "to_accel", "to_cpu", "to_accel_bytes", "to_cpu_bytes",
        "fallbacks"}  # fmt: skip


def _inspect_json(args, capsys) -> dict:
    assert main(["inspect", *args, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one object on one line, nothing else on stdout
    return json.loads(out)


def test_json_schema_and_values_of_an_onnx_model(tmp_path, capsys):
    path = tmp_path / "r18.onnx"
    onnx.save(resnet18(image=32, width=8, classes=10), path)
    doc = _inspect_json([str(path), "--config", "small"], capsys)
    assert set(doc) == KEYS
    assert doc["model"] == "resnet18" and doc["config"] == "small" and doc["quantized"]
    assert doc["accel_macs"] > 0 and doc["padding_macs"] > 0  # width 8 and 3 input channels
    assert 0 < doc["accel_share"] <= 1
    assert doc["boundary_crossings"] == doc["to_accel"] + doc["to_cpu"] > 0
    assert doc["boundary_bytes"] == doc["to_accel_bytes"] + doc["to_cpu_bytes"]
    assert not [f for f in doc["fallbacks"] if f["op"] == "MaxPool"]  # int8 on the accelerator
    quant = [f for f in doc["fallbacks"] if f["op"] == "vtac.quantize"]
    assert quant and "no float unit" in quant[0]["reason"]
    assert all(set(f) == {"op", "reason", "nodes"} and f["nodes"] for f in doc["fallbacks"])


def test_json_of_a_builtin_model_matches_the_report(capsys):
    from hw_sim.config import load_config

    doc = _inspect_json(["yolo", "--shape", "input=1,3,64,64"], capsys)
    g = yolo(image=64)
    rng = np.random.default_rng(0)  # inspect's calibration: --calib 2 uniform [0, 1) inputs
    calib = [{"input": rng.random((1, 3, 64, 64), dtype=np.float32)} for _ in range(2)]
    res = compile_for_accel(g, load_config("default"), calib)
    expect = partition_report(res.graph, res.float_graph).to_json()
    for key in ("accel_macs", "cpu_macs", "padding_macs", "boundary_crossings",
                "boundary_bytes", "fallbacks"):  # fmt: skip
        assert doc[key] == expect[key], key
    assert doc["accel_macs"] + doc["cpu_macs"] == sum(node_macs(n, g) for n in g.nodes)
    assert {f["op"] for f in doc["fallbacks"]} >= {"Concat", "Split", "MaxPool", "Resize"}


def test_unknown_model_name_is_one_line(capsys):
    assert main(["inspect", "no_such_model", "--json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_model" in err and "built-in model" in err
