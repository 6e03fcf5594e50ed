"""Max pool, ×2 upsample and element-wise launches as tuning tasks: extracted from whole
models, searched, measured on hw_sim (pools and upsamples checked bit-exact), logged, and
applied by `compile_model` bit-exact; bad records refused."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections import Counter

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.driver.model_tasks import model_tasks, records_knobs
from compiler.tune.kinds import heuristic_knobs, make_space
from compiler.tune.measure import MeasureResult, SerialExecutor, Status, measure_vta_job
from compiler.tune.records import Record, RecordError, RecordLog, best_knobs, load_records
from compiler.tune.tile_space import REASONS, TILE_KINDS, TileSpace
from compiler.vta.alu_stream import TileKnobs
from hw_sim.config import load_config
from runtime.executor import Executor, compare_integer_values, reference_values
from tests.model.helpers import samples
from tests.model.int8_blocks import pool_residual, yolo_blocks

pytestmark = pytest.mark.sim
MODELS = {"yolo_blocks": yolo_blocks, "pool_residual": pool_residual}
NEW_KINDS = (*TILE_KINDS, "elementwise")


@functools.cache
def _graph_tasks(config: str, model: str = "yolo_blocks"):
    g = MODELS[model]()
    return g, model_tasks(g, load_config(config), samples(g, 2))


def _tile_tasks(config: str, model: str = "yolo_blocks"):
    return [t for t in _graph_tasks(config, model)[1] if t.kind in NEW_KINDS]


def test_model_tasks_find_the_max_pools_and_the_upsample():
    kinds = Counter(t.kind for t in _graph_tasks("default")[1])
    # the 2x2/2 stem pool and the SPPF's 5x5/1 pool (three launches, one task); one upsample
    assert kinds["maxpool"] == 2 and kinds["upsample2x"] == 1 and kinds["conv2d"] >= 5
    pools = {tuple(t.workload["kernel"]) for t in _tile_tasks("default") if t.kind == "maxpool"}
    assert pools == {(2, 2), (5, 5)}


def test_resnet18_stem_max_pool_is_a_task():
    from compiler.models import resnet18

    g = resnet18(seed=1, image=64, width=16, classes=10)
    tasks = model_tasks(g, load_config("default"), samples(g, 1))
    (pool,) = [t for t in tasks if t.kind == "maxpool"]
    assert pool.workload["kernel"] == (3, 3) and pool.workload["strides"] == (2, 2)
    # the global average pool runs as a depthwise (block-diagonal grouped) conv task
    assert any(t.workload.get("groups", 1) > 1 for t in tasks)


def test_tile_space_filters_and_round_trips():
    for task in _tile_tasks("small"):
        sp = make_space(task)
        assert isinstance(sp, TileSpace) and sp.family == "tile"
        reasons = Counter(sp.check(p) for p in itertools.product(*(range(n) for n in sp.sizes)))
        assert set(reasons) - {None} <= set(REASONS) and reasons[None] > 1
        for p in sp.valid_points():
            assert sp.point(sp.knobs(p)) == p and sp.from_index(sp.index(p)) == p
        assert sp.check_knobs(heuristic_knobs(task)) is None
        one_tile = TileKnobs(sp.op.tiled_rows, sp.op.blocks[1], 2)
        assert sp.check_knobs(one_tile) in ("duplicate", "sram_acc")


def test_measurements_are_checked_against_the_reference(monkeypatch):
    task = next(t for t in _tile_tasks("default") if t.kind == "upsample2x")
    job = {"task": task.to_dict(), "knobs": heuristic_knobs(task).to_dict()}
    ok = measure_vta_job(job)
    assert ok["status"] == "ok" and ok["cost"] > 0 and ok["labels"]["alu_uops"] > 0
    kind = TILE_KINDS["upsample2x"]
    wrong = dataclasses.replace(kind, reference=lambda op, x: kind.reference(op, x) ^ 1)
    monkeypatch.setitem(TILE_KINDS, "upsample2x", wrong)
    bad = measure_vta_job(job)
    assert bad["status"] == "runtime_error" and "differs from the reference" in bad["error"]


def test_xgb_tunes_a_pool_task_and_its_records_round_trip(tmp_path):
    from compiler.tune.session import tune
    from compiler.tune.transfer import transfer_data
    from compiler.tune.tuners import make_tuner

    task = next(t for t in _tile_tasks("default") if t.workload["kernel"] == (5, 5))
    sp = make_space(task)
    log = tmp_path / "t.jsonl"
    tuner = make_tuner("xgb", sp, seed=0)
    res = tune(task, tuner, SerialExecutor(), n_trials=12, log=log, batch_size=4)
    assert res.trials == 12 and not res.errors and tuner.model is not None  # it trained
    heur = measure_vta_job({"task": task.to_dict(), "knobs": heuristic_knobs(task).to_dict()})
    records = load_records(log)
    assert len(records) == 12 and {r.task for r in records} == {task.key}
    assert all(r.task_def["kind"] == "maxpool" for r in records)
    best = best_knobs(records, task.key)
    assert isinstance(best, TileKnobs) and best.to_dict() == res.best_knobs
    assert res.best_cost <= heur["cost"] * 1.5  # a search of 12 trials lands near the heuristic
    # transfer draws only on its own family
    conv = Record('{"kind":"conv2d"}', {}, MeasureResult(Status.OK, 1.0), {"target": "vta",
                  "kind": "conv2d", "workload": {}})  # fmt: skip
    data = transfer_data(records + [conv], fam="tile")
    assert data.tasks == [task.key] and data.x.shape == (12, len(tuner.features.names))


def _recorded_points(config: str, model: str, log) -> dict[str, dict]:
    """A record per new-kind task at knobs the heuristic would not choose (the first valid
    point in grid order that differs from it), with a cost that makes it the best."""
    chosen = {}
    for task in _tile_tasks(config, model):
        sp = make_space(task)
        heur = heuristic_knobs(task)
        k = next(sp.knobs(p) for p in sp.valid_points() if sp.knobs(p) != heur)
        RecordLog(log).append([Record(task.key, k.to_dict(), MeasureResult(Status.OK, 1.0),
                                      task.to_dict(), "test")])  # fmt: skip
        chosen[task.key] = k.to_dict()
    return chosen


@pytest.mark.parametrize(("model", "launches"), [("yolo_blocks", 5), ("pool_residual", 2)])
def test_tuned_records_are_applied_at_compile_and_stay_bit_exact(cfg, tmp_path, model, launches):
    """yolo_blocks: the stem pool, 3 SPPF pools (one task), the upsample; pool_residual: a
    3x3 max pool and the standalone int8 Add."""
    from compiler.tune.task import task_key_from_op

    g = _graph_tasks(cfg.name, model)[0]
    log = tmp_path / "t.jsonl"
    chosen = _recorded_points(cfg.name, model, log)
    knobs_for = records_knobs(log, cfg)
    model_ = compile_model(g, cfg, samples(g, 2), knobs_for=knobs_for)
    assert not model_.meta["fallbacks"]
    new_ops = ("vtac.maxpool", "vtac.upsample", "vtac.add")
    tiled = [la for la in model_.accel_launches() if la.ops[0] in new_ops]
    assert len(tiled) == launches and knobs_for.hits >= launches
    for la in tiled:
        (knobs,) = la.knobs
        assert knobs in chosen.values()
    ops = {la.name: la for la in tiled}
    # the launch of each task carries that task's recorded knobs
    for task in _tile_tasks(cfg.name, model):
        assert ops[task.name].knobs == [chosen[task.key]]
        assert task_key_from_op(task.build_op(), cfg) == task.key
    feed = samples(g, 1, seed=9)[0]
    res = Executor(model_).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model_, feed)) == []


@pytest.mark.parametrize(("knob", "value"), [("tile_h", 999), ("threads", 3), ("tile_w", 4)])
def test_a_record_outside_the_space_is_refused_naming_task_and_knob(tmp_path, knob, value):
    cfg = load_config("default")
    g = _graph_tasks("default")[0]
    task = next(t for t in _tile_tasks("default") if t.kind == "upsample2x")
    log = tmp_path / "bad.jsonl"
    bad = heuristic_knobs(task).to_dict() | {knob: value}
    RecordLog(log).append([Record(task.key, bad, MeasureResult(Status.OK, 1.0), task.to_dict())])
    with pytest.raises(RecordError) as e:
        compile_model(g, cfg, samples(g, 2), knobs_for=records_knobs(log, cfg))
    msg = str(e.value)
    assert repr(task.name) in msg and "upsample2x" in msg and f"{knob}={value}" in msg


def test_a_depthwise_conv_is_a_gemm_task_with_a_valid_heuristic():
    from compiler.tune.task import Task

    # 32 channels, one per group: the block-diagonal grouped conv of compiler/graph/depthwise
    t = Task("vta", "conv2d", dict(n=1, ci=32, h=8, w=8, co=32, k=3, stride=1, pad=1, groups=2))
    sp = make_space(t)
    assert sp.family == "gemm" and sp.check_knobs(heuristic_knobs(t)) is None
    r = measure_vta_job({"task": t.to_dict(), "knobs": heuristic_knobs(t).to_dict()})
    assert r["status"] == "ok" and np.isfinite(r["cost"])


def test_the_standalone_add_is_an_eltwise_task_that_xgb_searches(tmp_path):
    from compiler.tune.eltwise_space import EltwiseSpace
    from compiler.tune.session import tune
    from compiler.tune.tuners import make_tuner

    (task,) = [t for t in _graph_tasks("small", "pool_residual")[1] if t.kind == "elementwise"]
    sp = make_space(task)
    assert isinstance(sp, EltwiseSpace) and sp.family == "eltwise"
    assert sp.check_knobs(heuristic_knobs(task)) is None
    assert task.workload["a"] == task.workload["b"] == "int8"
    tuner = make_tuner("xgb", sp, seed=0)
    res = tune(task, tuner, SerialExecutor(), n_trials=15, log=tmp_path / "e.jsonl", batch_size=5)
    assert res.trials == 15 and not res.errors and tuner.model is not None  # it trained
    # outside its space: a knob its schedule does not read
    rec = Record(task.key, heuristic_knobs(task).to_dict() | {"tile_ci": 2},
                 MeasureResult(Status.OK, 1.0), task.to_dict())  # fmt: skip
    from compiler.tune.records import check_in_space

    with pytest.raises(RecordError, match="knob tile_ci=2 is outside its space"):
        check_in_space(rec, sp, repr(task.name))


def test_a_conv_record_outside_its_space_is_refused_too(tmp_path):
    cfg = load_config("default")
    g, tasks = _graph_tasks("default")
    conv = next(t for t in tasks if t.kind == "conv2d")
    log = tmp_path / "bad.jsonl"
    bad = heuristic_knobs(conv).to_dict() | {"tile_h": 999}
    RecordLog(log).append([Record(conv.key, bad, MeasureResult(Status.OK, 1.0), conv.to_dict())])
    with pytest.raises(RecordError, match=f"task {conv.name!r} \\(conv2d\\): knob tile_h=999"):
        compile_model(g, cfg, samples(g, 2), knobs_for=records_knobs(log, cfg))


def test_mul_config_hardswish_and_mul_launches_are_tuned_and_applied(tmp_path):
    """On a config with the ALU's MUL, a standalone Mul / HardSwish launch is an element-wise
    task whose workload rebuilds it (`mul_ops.rebuild`); its record is used at compile and the
    co-run stays bit-exact."""
    from compiler.tune.session import tune
    from compiler.tune.tuners import make_tuner
    from tests.model.mul_blocks import mul_block

    cfg = load_config("mul")
    g = mul_block()
    calib = samples(g, 2)
    options = {"float_squeeze_excite": False, "requant": "shift"}  # the gate Mul int8
    tasks = [t for t in model_tasks(g, cfg, calib, options) if "op" in t.workload]
    assert {t.workload["op"] for t in tasks} == {"mul"}
    for task in tasks:
        assert task.build_op().workload == {k: v for k, v in task.workload.items()
                                            if k != "epilogue"}  # fmt: skip
    task = tasks[0]
    log = tmp_path / "mul.jsonl"
    res = tune(task, make_tuner("xgb", make_space(task), seed=0), SerialExecutor(), n_trials=6,
               log=log, batch_size=3)  # fmt: skip
    assert res.trials == 6 and not res.errors
    knobs = records_knobs(log, cfg)
    model = compile_model(g, cfg, calib, knobs_for=knobs, quant_options=options)
    assert task.name in knobs.used
    feed = samples(g, 1, seed=5)[0]
    run = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(run.values, reference_values(model, feed)) == []
