"""`vtac tune`: a short real run on hw_sim, its log, and a resume that measures nothing new."""

from __future__ import annotations

import pytest

from compiler.tune.records import load_records
from runtime.cli import main

pytestmark = pytest.mark.sim


def test_vtac_tune_layer_logs_and_resumes(tmp_path, capsys):
    log = tmp_path / "t.jsonl"
    argv = [
        "tune",
        "--layer",
        "C11",
        "--trials",
        "4",
        "--batch",
        "4",
        "--tuner",
        "random",
        "--log",
        str(log),
        "--workers",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 trials (4 measured, 0 from the log)" in out and "utilization" in out
    assert len(load_records(log)) == 4
    assert main(argv) == 0  # same seed: every point is recalled from the log
    assert "4 trials (0 measured, 4 from the log)" in capsys.readouterr().out


def test_vtac_tune_rejects_bad_requests(capsys):
    assert main(["tune", "model.onnx"]) == 2
    assert "not wired up yet" in capsys.readouterr().err
    assert main(["tune", "--layer", "C99"]) == 2
    assert "unknown layer" in capsys.readouterr().err
