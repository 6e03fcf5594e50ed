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
    records = load_records(log)  # the 4 trials and the heuristic's point
    assert len(records) == 5 and [r.tuner for r in records].count("heuristic") == 1
    assert main(argv) == 0  # same seed: every point is recalled from the log
    assert "4 trials (0 measured, 4 from the log)" in capsys.readouterr().out
    assert len(load_records(log)) == 5


def test_vtac_tune_rejects_bad_requests(capsys):
    assert main(["tune", "model.onnx"]) == 2
    assert "model.onnx" in capsys.readouterr().err
    assert main(["tune", "--layer", "C99"]) == 2
    assert "unknown layer" in capsys.readouterr().err


def test_vtac_tune_best_and_merge(tmp_path, capsys):
    from compiler.tune.measure import MeasureResult, Status
    from compiler.tune.records import Record, RecordLog
    from compiler.tune.task import layer_task

    key = layer_task("C11").key
    a, b, m = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "m.jsonl"
    RecordLog(a).append([Record(key, {"tile_h": 7}, MeasureResult(Status.OK, 50000.0))])
    RecordLog(b).append([Record(key, {"tile_h": 1}, MeasureResult(Status.OK, 40000.0))])
    assert main(["tune", "--merge", str(a), str(b), "--log", str(m)]) == 0
    assert main(["tune", "--layer", "C11", "--best", "--log", str(m)]) == 0
    out = capsys.readouterr().out
    assert "2 records appended" in out and "40,000 cycles" in out and "tile_h=1" in out
    assert main(["tune", "--layer", "C12", "--best", "--log", str(m)]) == 1
