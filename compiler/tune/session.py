"""The tuning loop: ask → filter invalid points → measure (or recall) → log → tell.

    result = tune(task, make_tuner("xgb", VtaSpace(task), seed=0), LocalExecutor(2),
                  n_trials=200, log="tune.jsonl")

A trial is a valid point whose result the tuner was told (OK or an error); invalid points are
filtered before measuring, told to the tuner as failures and counted by reason, but are not
trials. Results already in the log (or in `db`, any records of this task: measurements on
`hw_sim` are exact, so a point is never measured twice) are recalled instead of measured.
That is also how a run resumes after a kill: the tuner is rebuilt with the same seed and
replayed from the start; its asks are the same (it is deterministic in what it is told), every
finished measurement is recalled from the log, and it reaches the state an uninterrupted run
would have, then continues measuring where the killed run stopped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compiler.tune.measure import MeasureResult, SerialExecutor, Status, measure_vta_job
from compiler.tune.records import Record, RecordLog, load_records
from compiler.tune.task import Task
from compiler.tune.tuners import Tuner


@dataclass
class TuneResult:
    task: Task
    tuner: str
    seed: int
    best_knobs: dict | None = None
    best_cost: float | None = None
    trials: int = 0
    fresh: int = 0  # measurements made by this run (the rest came from the log / db)
    history: list[float | None] = field(default_factory=list)  # cost per trial, in order
    knobs_history: list[dict] = field(default_factory=list)  # knobs per trial, in order
    invalid: Counter = field(default_factory=Counter)  # filtered points by reason
    errors: Counter = field(default_factory=Counter)  # failed trials by status
    wall_s: float = 0.0

    @property
    def best_curve(self) -> list[float | None]:
        """Best cost after each trial."""
        out, best = [], None
        for c in self.history:
            if c is not None and (best is None or c < best):
                best = c
            out.append(best)
        return out

    def trials_to(self, target_cost: float) -> int | None:
        """Trials until a cost <= target was first measured (None: never in this run)."""
        for i, c in enumerate(self.history, 1):
            if c is not None and c <= target_cost:
                return i
        return None


def _memo(task_key: str, records: list[Record]) -> dict[str, MeasureResult]:
    out: dict[str, MeasureResult] = {}
    for r in records:
        # deterministic outcomes only: a timeout or a dead worker is worth measuring again
        if r.task == task_key and r.result.status in (Status.OK, Status.COMPILE_ERROR):
            if r.knobs_key not in out or (r.result.ok and not out[r.knobs_key].ok):
                out[r.knobs_key] = r.result
    return out


def tune(
    task: Task,
    tuner: Tuner,
    executor=None,
    n_trials: int = 64,
    log: str | Path | None = None,
    batch_size: int = 8,
    db: list[Record] | None = None,
    callback: Callable[[TuneResult], None] | None = None,
    timeout: float | None = 120.0,
    measure_fn: Callable[[dict], dict] = measure_vta_job,
) -> TuneResult:
    """Run `tuner` on `task` for `n_trials` trials (see the module docstring)."""
    import json

    t0 = time.perf_counter()
    executor = executor or SerialExecutor()
    space = tuner.space
    logf = RecordLog(log) if log else None
    memo = _memo(task.key, (db or []) + (logf.load() if logf else []))
    res = TuneResult(task, tuner.name, tuner.seed)
    batch_no = 0
    while res.trials < n_trials and not tuner.exhausted:
        want = min(batch_size, n_trials - res.trials)
        points: list[tuple[int, ...]] = []
        for _ in range(100):  # asks until the batch has `want` valid points
            cand = tuner.ask(want - len(points))
            if not cand:
                break
            for p in cand:
                if p in points:  # asked again before the batch is told: one trial, not two
                    continue
                reason = space.check(p)
                if reason is None:
                    points.append(p)
                else:
                    res.invalid[reason] += 1
                    tuner.tell([p], [None])
            if len(points) >= want:
                break
        if not points:
            break
        knobs = [space.knobs(p).to_dict() for p in points]
        keys = [json.dumps(k, sort_keys=True) for k in knobs]
        todo = [i for i, k in enumerate(keys) if k not in memo]
        jobs = [{"task": task.to_dict(), "knobs": knobs[i]} for i in todo]
        fresh = [MeasureResult.from_dict(d) for d in executor.map(measure_fn, jobs, timeout)]
        now = time.time()
        new = [
            Record(task.key, knobs[i], r, task.to_dict(), tuner.name, tuner.seed, batch_no, now)
            for i, r in zip(todo, fresh, strict=True)
        ]
        if logf:
            logf.append(new)
        for i, r in zip(todo, fresh, strict=True):
            if r.status in (Status.OK, Status.COMPILE_ERROR):
                memo[keys[i]] = r
        res.fresh += len(todo)
        by_index = dict(zip(todo, fresh, strict=True))
        results = [by_index.get(i) or memo[k] for i, k in enumerate(keys)]
        costs = [r.cost if r.ok else None for r in results]
        tuner.tell(points, costs)
        for p, r in zip(points, results, strict=True):
            res.trials += 1
            res.history.append(r.cost if r.ok else None)
            res.knobs_history.append(space.knobs(p).to_dict())
            if not r.ok:
                res.errors[r.status.value] += 1
            elif res.best_cost is None or r.cost < res.best_cost:
                res.best_cost, res.best_knobs = r.cost, space.knobs(p).to_dict()
        batch_no += 1
        res.wall_s = time.perf_counter() - t0
        if callback:
            callback(res)
    res.wall_s = time.perf_counter() - t0
    return res


def task_records(log: str | Path, task_key: str) -> list[Record]:
    return [r for r in load_records(log) if r.task == task_key]
