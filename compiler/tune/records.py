"""The tuning database: versioned JSON lines, append-only, fsync'd per batch.

One line per measured point:

    {"v": 1, "task": "<task key>", "task_def": {...}, "knobs": {...}, "result": {...},
     "tuner": "xgb", "seed": 0, "batch": 3, "time": 1760000000.0}

`RecordLog.append(records)` writes a batch with one `write`, then flush + fsync, so a kill
loses at most the batch in flight; a torn last line (killed mid-write) and any corrupt line are
skipped with a warning when loading, never fatal, and the next append starts on a fresh line.
Lines of a newer format version are skipped with a warning. The API the compile driver uses:

    best_knobs("tune.jsonl", task_key_from_op(op, cfg)) -> Knobs | TileKnobs | None

(the knobs type of the task's kind, `kinds.knobs_from_dict`); `check_in_space` refuses a record
whose knobs are not on its task's space with a `RecordError` naming the task and the knob.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from compiler.tune.kinds import kind_of_key, knobs_from_dict
from compiler.tune.measure import MeasureResult, Status

VERSION = 1


class RecordError(Exception):
    """A tuning record that cannot be applied (not a ValueError: the compile driver turns
    those into CPU fallbacks, and a bad record is the user's to fix, not a fallback)."""


@dataclass
class Record:
    task: str  # task key (canonical JSON)
    knobs: dict
    result: MeasureResult
    task_def: dict = field(default_factory=dict)  # Task.to_dict(), to rebuild the task
    tuner: str = ""
    seed: int = 0
    batch: int = 0
    time: float = 0.0

    def to_json(self) -> str:
        d = {
            "v": VERSION,
            "task": self.task,
            "task_def": self.task_def,
            "knobs": self.knobs,
            "result": self.result.to_dict(),
            "tuner": self.tuner,
            "seed": self.seed,
            "batch": self.batch,
            "time": round(self.time or time.time(), 3),
        }
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Record:
        d = json.loads(line)
        if not isinstance(d, dict) or "v" not in d:
            raise ValueError("not a record")
        if d["v"] > VERSION:
            raise ValueError(f"record format version {d['v']} is newer than {VERSION}")
        return cls(
            d["task"],
            d["knobs"],
            MeasureResult.from_dict(d["result"]),
            d.get("task_def", {}),
            d.get("tuner", ""),
            d.get("seed", 0),
            d.get("batch", 0),
            d.get("time", 0.0),
        )

    @property
    def knobs_key(self) -> str:
        return json.dumps(self.knobs, sort_keys=True)


class RecordLog:
    """An append-only records file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, records: list[Record]) -> None:
        """Append one batch durably (single write, flush, fsync)."""
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(r.to_json() + "\n" for r in records)
        with open(self.path, "ab+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn last line: start a new one after it
                    text = "\n" + text
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())

    def load(self) -> list[Record]:
        return load_records(self.path)


def load_records(path: str | Path) -> list[Record]:
    """Every readable record of `path`, in file order (a missing file has none)."""
    path = Path(path)
    if not path.exists():
        return []
    out: list[Record] = []
    lines = path.read_bytes().split(b"\n")
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            out.append(Record.from_json(raw.decode()))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            torn = n == len(lines) and not raw.endswith(b"}")
            what = "torn last line (interrupted write)" if torn else f"corrupt line ({e})"
            warnings.warn(f"{path}:{n}: skipping {what}", stacklevel=2)
    return out


def _records(log_or_records) -> list[Record]:
    if isinstance(log_or_records, str | Path):
        return load_records(log_or_records)
    return list(log_or_records)


def best_record(log_or_records, task_key: str) -> Record | None:
    """The lowest-cost OK record of `task_key` (ties: the earliest)."""
    best = None
    for r in _records(log_or_records):
        if r.task == task_key and r.result.status == Status.OK:
            if best is None or r.result.cost < best.result.cost:
                best = r
    return best


def best_knobs(log_or_records, task_key: str):
    """The knobs of the best known schedule of `task_key` (as its kind's knobs type), or None
    (fall back to the heuristic). `log_or_records`: a records path or a list of `Record`s."""
    r = best_record(log_or_records, task_key)
    return knobs_from_dict(kind_of_key(task_key), r.knobs) if r is not None else None


def _allowed(values: tuple) -> str:
    if not values:
        return "not a knob of this operator"
    ints = all(isinstance(v, int) for v in values)
    if ints and len(values) > 3 and list(values) == list(range(values[0], values[-1] + 1)):
        return f"one of {values[0]}..{values[-1]}"
    return "one of " + ", ".join(map(repr, values))


def check_in_space(record: Record, space, label: str) -> None:
    """Raise `RecordError` if a knob of `record` is not on `space` (`space.outside`)."""
    bad = space.outside(record.knobs)
    if bad is not None:
        name, value, allowed = bad
        raise RecordError(
            f"tuning record of task {label} ({kind_of_key(record.task)}): knob {name}={value!r} "
            f"is outside its space ({_allowed(allowed)})"
        )


def best_knobs_for_op(log_or_records, op, cfg):
    """The best knobs `op` can use as it was built: records whose `bias_on` names another bias
    placement than the operator's are skipped (using them means rebuilding the operator with
    that `bias_on`, which `best_knobs` leaves to the caller). None: use the heuristic."""
    from compiler.tune.task import task_key_from_op

    built = "gemm" if op.bias_gemm else ("alu" if op.alu_bias else "")
    key = task_key_from_op(op, cfg)
    ok = [
        r
        for r in _records(log_or_records)
        if r.task == key and (not built or r.knobs.get("bias_on", "") in ("", built))
    ]
    return best_knobs(ok, key)


def merge_logs(paths: list[str | Path], out: str | Path) -> int:
    """Write the union of `paths` to `out` (one record per task and knobs, the first seen;
    OK results win over failures); returns the number of records written."""
    seen: dict[tuple[str, str], Record] = {}
    for p in paths:
        for r in load_records(p):
            k = (r.task, r.knobs_key)
            if k not in seen or (not seen[k].result.ok and r.result.ok):
                seen[k] = r
    RecordLog(out).append(list(seen.values()))
    return len(seen)
