"""scripts/bench_quant.py on a tiny model: vtac's and onnxruntime's int8 error side by side."""

from __future__ import annotations

import json

import onnx
import pytest

from hw_sim.config import load_config
from tests.graph.models import resnet18

pytest.importorskip("onnxruntime")


def test_bench_quant_measures_vtac_and_onnxruntime_on_a_tiny_model(tmp_path):
    from scripts.bench_quant import measure

    path = tmp_path / "tiny_r18.onnx"
    onnx.save(resnet18(image=32, width=8, classes=10), path)
    row = measure(path, load_config("small"), calib_count=2, eval_count=2, report=3)
    assert row["name"] == "tiny_r18" and row["preprocess"] == "imagenet"
    assert row["calib_images"] == 2 and row["eval_images"] == 2
    assert 0 < row["vtac_error"] < 0.5 and row["top1_agreement"] in (0.0, 0.5, 1.0)
    for method in ("minmax", "entropy"):
        ort = row["ort"][method]
        assert 0 < ort["worst"] < 0.5 and set(ort["rel_l2"]) == set(row["points"])
    assert row["ort_error"] == min(row["ort"]["minmax"]["worst"], row["ort"]["entropy"]["worst"])
    assert row["vtac_le_ort"] == (row["vtac_error"] <= row["ort_error"])
    worst = row["vtac"]["worst_layers"]
    assert len(worst) == 3 and worst[0]["sqnr_db"] <= worst[-1]["sqnr_db"]
    json.dumps(row)  # the --json document holds plain values


def test_saved_onnxruntime_figures_are_reused_only_for_the_same_measurement():
    from scripts.bench_quant import reuse_ort

    def row(**kw):
        base = {"name": "m", "calib_images": 10, "eval_images": 10, "points": ["y", "logits"],
                "vtac_error": 0.02}  # fmt: skip
        return {**base, **kw}

    saved = {"m": row(vtac_error=0.09, ort_error=0.03, ort_top1_agreement=1.0,
                      ort={"minmax": {"worst": 0.03}})}  # fmt: skip
    got = reuse_ort(row(), saved, "old.json")
    assert got["ort_error"] == 0.03 and got["vtac_le_ort"] and got["ort_from"] == "old.json"
    assert got["vtac_error"] == 0.02  # vtac's own figure is kept
    assert "ort_error" not in reuse_ort(row(eval_images=5), saved, "old.json")
    assert "ort_error" not in reuse_ort(row(points=["y"]), saved, "old.json")
    assert "ort_error" not in reuse_ort(row(name="other"), saved, "old.json")
