"""The records log: append per batch, torn and corrupt lines, best record, merge."""

from __future__ import annotations

import json

import pytest

from compiler.schedule.vta_gemm import Knobs
from compiler.tune.measure import MeasureResult, Status
from compiler.tune.records import (
    VERSION,
    Record,
    RecordLog,
    best_knobs,
    best_record,
    load_records,
    merge_logs,
)


def _rec(task: str, tile_h: int, cost: float | None, status=Status.OK) -> Record:
    return Record(task, Knobs(tile_h=tile_h).to_dict(), MeasureResult(status, cost), {}, "t")


def test_append_and_load_round_trip(tmp_path):
    log = RecordLog(tmp_path / "a.jsonl")
    log.append([_rec("A", 1, 100.0), _rec("A", 2, 90.0)])
    log.append([_rec("B", 4, 50.0)])
    recs = log.load()
    assert [r.result.cost for r in recs] == [100.0, 90.0, 50.0]
    assert all(json.loads(line)["v"] == VERSION for line in (tmp_path / "a.jsonl").open())


def test_torn_last_line_is_skipped_with_a_warning_and_appends_continue(tmp_path):
    path = tmp_path / "a.jsonl"
    log = RecordLog(path)
    log.append([_rec("A", 1, 100.0), _rec("A", 2, 90.0)])
    with open(path, "ab") as f:  # a write killed midway
        f.write(_rec("A", 4, 10.0).to_json().encode()[:37])
    with pytest.warns(UserWarning, match="torn last line"):
        assert len(load_records(path)) == 2
    log.append([_rec("A", 7, 80.0)])  # starts on a fresh line
    with pytest.warns(UserWarning, match="corrupt line"):
        recs = load_records(path)
    assert [r.result.cost for r in recs] == [100.0, 90.0, 80.0]


def test_newer_version_and_garbage_lines_are_skipped(tmp_path):
    path = tmp_path / "a.jsonl"
    RecordLog(path).append([_rec("A", 1, 100.0)])
    newer = json.loads(_rec("A", 2, 1.0).to_json()) | {"v": VERSION + 1}
    with open(path, "a") as f:
        f.write(json.dumps(newer) + "\n[1, 2]\nnot json\n")
    with pytest.warns(UserWarning):
        assert [r.result.cost for r in load_records(path)] == [100.0]


def test_best_knobs_picks_the_lowest_ok_cost_of_the_task(tmp_path):
    path = tmp_path / "a.jsonl"
    RecordLog(path).append(
        [
            _rec("A", 1, 100.0),
            _rec("A", 2, 90.0),
            _rec("A", 4, None, Status.COMPILE_ERROR),
            _rec("B", 7, 1.0),
        ]
    )
    assert best_knobs(path, "A") == Knobs(tile_h=2)
    assert best_record(load_records(path), "B").result.cost == 1.0
    assert best_knobs(path, "C") is None
    assert best_knobs(tmp_path / "missing.jsonl", "A") is None


def test_merge_dedupes_and_prefers_ok(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    RecordLog(a).append([_rec("A", 1, None, Status.TIMEOUT), _rec("A", 2, 90.0)])
    RecordLog(b).append([_rec("A", 1, 70.0), _rec("A", 2, 90.0)])
    assert merge_logs([a, b], tmp_path / "m.jsonl") == 2
    assert best_knobs(tmp_path / "m.jsonl", "A") == Knobs(tile_h=1)
    assert Knobs.from_dict({"tile_h": 3, "future_knob": 1}) == Knobs(tile_h=3)


def test_best_knobs_for_op_respects_the_operators_bias_placement(tmp_path):
    from tests.tune.fake import tiny_task

    t = tiny_task()
    path = tmp_path / "a.jsonl"
    alu = Knobs(tile_h=2, bias_on="alu").to_dict()
    gemm = Knobs(tile_h=4, bias_on="gemm").to_dict()
    RecordLog(path).append(
        [
            Record(t.key, alu, MeasureResult(Status.OK, 10.0)),
            Record(t.key, gemm, MeasureResult(Status.OK, 20.0)),
        ]
    )
    from compiler.tune.records import best_knobs_for_op

    assert best_knobs(path, t.key).bias_on == "alu"
    assert best_knobs_for_op(path, t.build_op("gemm"), t.hw).tile_h == 4
    assert best_knobs_for_op(path, t.build_op("alu"), t.hw).tile_h == 2
