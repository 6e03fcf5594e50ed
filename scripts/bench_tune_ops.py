"""Tuning the accelerator's max pools, ×2 upsamples and element-wise ops, measured.

For each model — the built-in ResNet-18 at 224×224 (its stem max pool) and the built-in YOLO at
320×320 built with ReLU activations (`yolo(act="relu")`: with its SiLU, computed on the CPU,
the SPPF max pools and the upsamples get float inputs and run on the CPU, so there is nothing
of them to tune) — at the `--config`:

1. the model's max pool, upsample and element-wise tasks (`compiler/driver/model_tasks.py`, as
   `vtac tune MODEL` extracts them);
2. per task: the heuristic's cycles, the optimum by exhaustive enumeration of the valid points
   (spaces of at most `--max-enum` valid points; larger ones: the best record of the runs), and
   trials to reach it with xgb and random search, `--trials` each (median over `--seeds` seeds;
   every point is measured once, into `--log`, and then recalled);
3. whole-model accelerator cycles: `compile_model` without and with the records (only these
   tasks' are in the log, so every conv keeps its heuristic), co-run on `hw_sim` and checked
   bit-exact against the int8 reference executor.

    python scripts/bench_tune_ops.py [--json] [--config default] [--seeds 5] [--log LOG]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.driver.compile_model import compile_model  # noqa: E402
from compiler.driver.model_tasks import model_tasks, records_knobs  # noqa: E402
from compiler.models import resnet18, yolo  # noqa: E402
from compiler.tune.kinds import heuristic_knobs, make_space  # noqa: E402
from compiler.tune.measure import LocalExecutor, measure_vta_job  # noqa: E402
from compiler.tune.records import best_record, load_records  # noqa: E402
from compiler.tune.session import tune  # noqa: E402
from compiler.tune.tile_space import TILE_KINDS  # noqa: E402
from compiler.tune.tuners import make_tuner  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.executor import Executor, compare_integer_values, reference_values  # noqa: E402

MODELS = {
    "resnet18": lambda: resnet18(seed=0, image=224),
    "yolo-relu": lambda: yolo(seed=0, image=320, act="relu"),
}
NEW_KINDS = (*TILE_KINDS, "elementwise")
NEW_OPS = ("vtac.maxpool", "vtac.upsample", "vtac.add", "vtac.requantize")


def host_cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln)
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def _samples(g, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(g.types[k].shape).astype(np.float32) for k in g.inputs}
            for _ in range(n)]  # fmt: skip


def bench_task(task, args, ex) -> dict:
    print(f"  {task.name} ({task.kind})", file=sys.stderr, flush=True)
    sp = make_space(task)
    valid = sp.valid_points()
    heur = measure_vta_job({"task": task.to_dict(), "knobs": heuristic_knobs(task).to_dict()})
    t0 = time.perf_counter()
    exhaustive = len(valid) <= args.max_enum
    if exhaustive:  # every valid point, once (the tuner runs below then recall them)
        tune(task, make_tuner("grid", sp, 0), ex, len(valid), args.log, batch_size=8)
    enum_s = time.perf_counter() - t0
    runs = {
        name: [tune(task, make_tuner(name, make_space(task), s), ex, args.trials, args.log,
                    batch_size=4) for s in range(args.seeds)]
        for name in ("xgb", "random")
    }  # fmt: skip
    best = best_record(load_records(args.log), task.key)
    tuners = {}
    for name, results in runs.items():
        got = [r.trials_to(best.result.cost) for r in results]
        tuners[name] = {
            "trials_to_optimum": [g if g is not None else f"{args.trials + 1}+" for g in got],
            "median": statistics.median(g if g is not None else args.trials + 1 for g in got),
            "best_cycles_seed0": results[0].best_cost,
        }
    return {
        "task": task.name, "kind": task.kind, "workload": task.workload,
        "raw_points": len(sp), "valid_points": len(valid),
        "optimum": "exhaustive" if exhaustive else "best of the runs",
        "heuristic_knobs": heuristic_knobs(task).to_dict(), "heuristic_cycles": heur["cost"],
        "best_knobs": best.knobs, "best_cycles": best.result.cost,
        "speedup": heur["cost"] / best.result.cost, "enumeration_s": round(enum_s, 1),
        "tuners": tuners,
    }  # fmt: skip


def whole_model(g, cfg, log) -> dict:
    calib, feed = _samples(g, 2), _samples(g, 1, seed=9)[0]
    out = {}
    for label, knobs_for in (("heuristic", None), ("tuned", records_knobs(log, cfg))):
        model = compile_model(g, cfg, calib, knobs_for=knobs_for)
        res = Executor(model).run(feed, keep_values=True)
        exact = compare_integer_values(res.values, reference_values(model, feed)) == []
        tiled = {la.name for la in model.accel_launches() if la.ops[0] in NEW_OPS}
        out[label] = {
            "accel_cycles": sum(r.cycles for r in res.launches if r.device == "accel"),
            "these_ops_cycles": sum(r.cycles for r in res.launches if r.name in tiled),
            "these_ops_launches": len(tiled), "bit_exact": exact,
            "records_used": knobs_for.hits if knobs_for else 0,
        }  # fmt: skip
    h, t = out["heuristic"]["accel_cycles"], out["tuned"]["accel_cycles"]
    out["accel_speedup"] = h / t
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--config", default="default")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--trials", type=int, default=32, help="budget per tuner run")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-enum", type=int, default=300,
                    help="enumerate spaces of at most this many valid points")  # fmt: skip
    ap.add_argument("--log", default="docs/tune-ops-records.jsonl", help="records database")
    args = ap.parse_args()
    cfg = load_config(args.config)
    ex = LocalExecutor(args.workers)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    doc: dict = {"host": host_cpu(), "date": date, "config": cfg.name, "trials": args.trials,
                 "seeds": args.seeds, "models": {}}  # fmt: skip
    t0 = time.perf_counter()
    try:
        for name in args.models:
            print(name, file=sys.stderr, flush=True)
            g = MODELS[name]()
            tasks = [t for t in model_tasks(g, cfg, _samples(g, 2)) if t.kind in NEW_KINDS]
            doc["models"][name] = {
                "tasks": [bench_task(t, args, ex) for t in tasks],
                "whole_model": whole_model(g, cfg, args.log),
            }
            if not args.json:
                print(json.dumps(doc["models"][name], indent=1), flush=True)
    finally:
        ex.close()
    doc["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(doc, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
