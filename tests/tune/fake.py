"""A fake measurer (as TVM's tuner tests use): a deterministic cost from the schedule's
closed-form features, so tuner, records and resume tests run without compiling anything."""

from __future__ import annotations

import os
import time

from compiler.schedule.vta_gemm import TILE_ORDERS, Knobs
from compiler.tune.features import STREAM_FEATURES, stream_features
from compiler.tune.space import VtaSpace
from compiler.tune.task import Task, useful_gemm_uops

TINY = dict(n=1, ci=32, h=8, w=8, co=64, k=3, stride=1, pad=1, groups=1)
_SPACES: dict[str, VtaSpace] = {}
_TASKS: dict[str, Task] = {}


def tiny_task(config: str = "default", **over) -> Task:
    return Task("vta", "conv2d", TINY | over, config, "tiny")


def fake_cost(task: Task, k: Knobs) -> float:
    sp = _SPACES.get(task.key) or _SPACES.setdefault(task.key, VtaSpace(task))
    f = dict(zip(STREAM_FEATURES, stream_features(sp, k), strict=True))
    total = useful_gemm_uops(task) / f["pred_useful_share"]
    return float(
        round(total * (1 + 0.04 * k.uop_split**2 + 0.02 * TILE_ORDERS.index(k.tile_order)))
    )


def fake_job(job: dict) -> dict:
    """Same contract as `measure.measure_vta_job`; `FAKE_SLEEP` seconds per point."""
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    tkey = repr(sorted(job["task"].items()))
    task = _TASKS.get(tkey) or _TASKS.setdefault(tkey, Task.from_dict(job["task"]))
    cost = fake_cost(task, Knobs.from_dict(job["knobs"]))
    return {"status": "ok", "cost": cost, "error": "", "labels": {}, "wall_s": 0.0}
