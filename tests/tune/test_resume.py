"""`kill -9` a tuning process, resume from its log: the same state as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler.tune.records import load_records
from tests.tune.resume_child import run

ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.parametrize("tuner", ["xgb", "ga"])
def test_kill_and_resume_reaches_the_uninterrupted_state(tmp_path, tuner):
    trials = 40
    whole = run(str(tmp_path / "whole.jsonl"), tuner, trials)

    log = tmp_path / "killed.jsonl"
    env = dict(os.environ, FAKE_SLEEP="0.03", PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.tune.resume_child", str(log), tuner, str(trials)],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while _lines(log) < 12 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = len(load_records(log))
    assert 12 <= done < trials, "the child should die mid-run"
    with open(log, "ab") as f:  # and as if killed mid-write
        f.write(b'{"v": 1, "task": "tor')

    with pytest.warns(UserWarning, match="torn last line"):
        resumed = run(str(log), tuner, trials)
    assert resumed.fresh == trials - done  # finished points are recalled, not re-measured
    assert resumed.history == whole.history
    assert resumed.best_knobs == whole.best_knobs
    key = lambda r: (r.knobs_key, r.result.cost)  # noqa: E731
    with pytest.warns(UserWarning):
        assert sorted(map(key, load_records(log))) == sorted(
            map(key, load_records(tmp_path / "whole.jsonl"))
        )
