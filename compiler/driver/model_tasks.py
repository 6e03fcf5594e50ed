"""The accelerator tuning tasks of a whole model, and tuned schedules for `compile_model`.

`model_tasks(graph, cfg, samples)` runs the graph pipeline (as `compile_model` does), lowers
every accelerator group and returns one `compiler.tune.task.Task` per distinct operator: its
workload and the model's own epilogue steps, so that the records key the tuner writes is the key
`compile_model` looks up (`task_key_from_op` of the same `VtaOp`). `records_knobs(path, cfg)`
is the `knobs_for` callback of `compile_model`: the best recorded knobs per operator (None: the
heuristic), counting how many operators had a record; a record whose knobs are not on its task's
space stops the compile with a `RecordError` naming the operator and the knob.

Tasks: convs (grouped and depthwise ones, and the average pools that run as depthwise convs,
included), dense layers, max pools, ×2 upsamples and element-wise operators (standalone int8
Add, lone requantize); `compiler/tune/kinds.py` has what differs per kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.driver.lower_group import LoweringError, lower_group
from compiler.graph.ir import Graph
from compiler.graph.passes.fuse_ops import group_table
from compiler.graph.pipeline import compile_for_accel
from hw_sim.config import HwConfig

TUNED_KINDS = ("conv2d", "group_conv2d", "dense", "maxpool", "upsample2x", "elementwise")


def _task_of(op, cfg: HwConfig, name: str):
    from compiler.tune.task import Task
    from compiler.tune.tile_space import TILE_KINDS

    if op.kind in TILE_KINDS:  # the operator's workload rebuilds it (no epilogue)
        return Task("vta", op.kind, dict(op.workload), cfg.name, name)
    if op.kind == "elementwise":
        wl = dict(op.workload, epilogue=[list(s) for s in op.steps])
        return Task("vta", op.kind, wl, cfg.name, name)
    wl = {k: v for k, v in op.workload.items() if k not in ("oh", "ow")}
    wl["epilogue"] = [list(s) for s in op.steps]
    if op.kind == "dense":
        wl["bias"] = any(s[0] == "bias" for s in op.steps)
    kind = "dense" if op.kind == "dense" else "conv2d"
    return Task("vta", kind, wl, cfg.name, name)


def model_tasks(
    graph: Graph,
    cfg: HwConfig,
    samples: Iterable[Mapping[str, np.ndarray]],
    quant_options: Mapping | None = None,
) -> list:
    """One tuning task per distinct accelerator operator of the model, in graph order, as
    `compile_model` with the same `quant_options` builds them."""
    g = compile_for_accel(graph, cfg, samples, **(quant_options or {})).graph
    by_name = {n.name: n for n in g.nodes}
    tasks, seen = [], set()
    for _gid, names in group_table(g):
        nodes = [by_name[n] for n in names]
        if nodes[0].target != "accel":
            continue
        try:
            op = lower_group(g, nodes, cfg).op
        except (LoweringError, ValueError):
            continue  # runs on the CPU: nothing to tune on the accelerator
        if op.kind not in TUNED_KINDS:
            continue
        task = _task_of(op, cfg, nodes[0].name)
        if task.key not in seen:
            seen.add(task.key)
            tasks.append(task)
    return tasks


@dataclass
class RecordsKnobs:
    """`knobs_for(op)` from a tuning log; `hits` / `misses` count the operators asked."""

    records: list
    cfg: HwConfig
    hits: int = 0
    misses: int = 0
    used: list[str] = field(default_factory=list)

    def __call__(self, op):
        from compiler.tune.kinds import knobs_from_dict, make_space
        from compiler.tune.records import best_record, check_in_space
        from compiler.tune.task import task_key_from_op

        if op.kind not in TUNED_KINDS:
            return None
        # The best record whatever its bias placement: compile_model rebuilds the operator
        # with the record's `bias_on` when it differs from how the operator was built.
        rec = best_record(self.records, task_key_from_op(op, self.cfg))
        if rec is None:
            self.misses += 1
            return None
        check_in_space(rec, make_space(_task_of(op, self.cfg, op.name)), repr(op.name))
        self.hits += 1
        self.used.append(op.name)
        return knobs_from_dict(op.kind, rec.knobs)


def records_knobs(path, cfg: HwConfig) -> RecordsKnobs:
    from compiler.tune.records import load_records

    return RecordsKnobs(load_records(path), cfg)
