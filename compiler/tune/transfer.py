"""Transfer learning: what the records of other tasks teach a new task.

`transfer_data(records, exclude=[key])` turns the OK records of other accelerator tasks (other
layers, other hardware configs) into cost-model training rows: the knob-free features of each
schedule (`features.py`, hardware config included) with its measured utilization, one rank
group per task. `XgbTuner(space, transfer=data)` trains on them from its first batch (warm
start) and keeps them next to its own measurements. `pretrain` fits and saves a stand-alone
model (XGBoost JSON); `topk_scores` is TenSet's weighted top-k score of a model on held-out
tasks.

Rows come from one feature family at a time (`kinds.py`: `family="gemm"` for conv/dense tasks,
`"tile"` for max pool / upsample tasks): the two families' features differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.tune.cost_model import XgbCostModel, topk_score
from compiler.tune.features import hw_features
from compiler.tune.kinds import (
    family,
    feature_names,
    knobs_from_dict,
    make_space,
    stream_row,
    useful_work,
)
from compiler.tune.records import Record
from compiler.tune.task import Task


@dataclass
class TransferData:
    x: np.ndarray  # (rows, len(feature_names(family))) float32
    y: np.ndarray  # utilization per row
    groups: np.ndarray  # task id per row (>= 0)
    tasks: list[str]  # task key per group id


_SPACES: dict[str, tuple[object, int, list[float]]] = {}


def _space(task_def: dict) -> tuple[object, int, list[float]]:
    task = Task.from_dict(task_def)
    if task.key not in _SPACES:
        sp = make_space(task)
        _SPACES[task.key] = (sp, useful_work(task), hw_features(sp.cfg))
    return _SPACES[task.key]


def task_rows(records: list[Record], fam: str = "gemm") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Feature rows and utilization labels of the OK accelerator records of feature family
    `fam`, by task key."""
    rows: dict[str, tuple[list, list]] = {}
    seen: set[tuple[str, str]] = set()
    width = len(feature_names(fam))
    for r in records:
        if not r.result.ok or r.task_def.get("target") != "vta":
            continue
        if family(r.task_def.get("kind", "conv2d")) != fam:
            continue
        if (r.task, r.knobs_key) in seen:
            continue
        seen.add((r.task, r.knobs_key))
        sp, useful, hw = _space(r.task_def)
        xs, ys = rows.setdefault(r.task, ([], []))
        xs.append(stream_row(sp, knobs_from_dict(r.task_def["kind"], r.knobs)) + hw)
        ys.append(useful / r.result.cost)
    return {
        k: (np.asarray(x, np.float32).reshape(-1, width), np.asarray(y, np.float32))
        for k, (x, y) in rows.items()
    }


def transfer_data(
    records: list[Record], exclude: tuple[str, ...] = (), fam: str = "gemm"
) -> TransferData:
    """Training rows from every task of family `fam` in `records` except the keys in
    `exclude`."""
    per = {k: v for k, v in task_rows(records, fam).items() if k not in exclude}
    keys = sorted(per)
    if not keys:
        empty = np.zeros((0, len(feature_names(fam))), np.float32)
        return TransferData(empty, np.zeros(0, np.float32), np.zeros(0, np.int64), [])
    x = np.concatenate([per[k][0] for k in keys])
    y = np.concatenate([per[k][1] for k in keys])
    g = np.concatenate([np.full(len(per[k][1]), i, np.int64) for i, k in enumerate(keys)])
    return TransferData(x, y, g, keys)


def pretrain(
    records: list[Record],
    exclude: tuple[str, ...] = (),
    seed: int = 0,
    rounds: int = 60,
    fam: str = "gemm",
) -> XgbCostModel:
    """A cost model fitted on the records of every task of family `fam` but `exclude`."""
    d = transfer_data(records, exclude, fam)
    if not len(d.y):
        raise ValueError("pretrain: no OK accelerator records to learn from")
    return XgbCostModel(rounds, seed).fit(d.x, d.y, d.groups)


def topk_scores(
    model: XgbCostModel, records: list[Record], keys: list[str], ks: tuple[int, ...] = (1, 5)
) -> dict[int, float]:
    """TenSet's top-k score over held-out tasks `keys`, every task weighted equally (TenSet
    weights by how often a task occurs in the networks; each ResNet-18 layer task is one)."""
    per = task_rows(records)
    out = {}
    for k in ks:
        num = den = 0.0
        for key in keys:
            if key not in per:
                continue
            x, y = per[key]
            num += topk_score(model.predict(x), y, k)
            den += 1
        out[k] = num / den if den else float("nan")
    return out
