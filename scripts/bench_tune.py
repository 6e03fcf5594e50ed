"""Auto-tuning, measured: tuners vs random search, transfer, tuned vs heuristic, CPU vs onnxruntime.

On the ResNet-18 conv layers of VTA's benchmark (C2, C4-C12) at the default config, all through
one records database (`--log`; reused when given, so a re-run only measures what is missing):
  1. the heuristic schedule of every layer, and an exhaustive enumeration of the valid space of
     the `--exhaustive` layers (the true optimum there; elsewhere the optimum is the best record
     of any run in the database, stated per layer in the JSON);
  2. trials to reach 95 % (and 99 %) of that optimum, median over `--seeds` seeds, per tuner
     (random, ga, xgb; grid only with `--tuners ... grid`: its row-major order starts at the
     smallest tiles, whose programs take tens of seconds each to build and simulate) on the
     `--compare` layers, and the tuning curves (PNG);
  3. transfer: xgb pre-trained on the records of the other layers (leave-one-out) vs from
     scratch on each compare layer, with TenSet's top-1/top-5 score of the pre-trained model;
     and across configs (`--cross-config`, small): pre-trained on the default config's records;
  4. tuned (best record) vs heuristic utilization of the ten layers (with the analytic upper
     bound of this datapath), and whole ResNet-18 accelerator cycles as the sum of its conv
     layers' tasks (benchmark epilogue; C1 excluded as in VTA's benchmark);
  5. CPU: C1-C12 float32 kernels tuned (local grid search from the default, `--cpu-trials`)
     vs onnxruntime at one thread, raced in one run.

    python scripts/bench_tune.py [--json] [--log tune.jsonl] [--seeds 5] [--budget 32]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.schedule.vta_heuristic import default_knobs  # noqa: E402
from compiler.tune.measure import (  # noqa: E402
    LocalExecutor,
    MeasureResult,
    SerialExecutor,
    measure_cpu_job,
    measure_vta_job,
)
from compiler.tune.plot import best_so_far, plot_curves  # noqa: E402
from compiler.tune.records import Record, RecordLog, best_record, load_records  # noqa: E402
from compiler.tune.session import tune  # noqa: E402
from compiler.tune.space import VtaSpace  # noqa: E402
from compiler.tune.task import LAYERS, VTA_LAYERS, Task, layer_task, useful_gemm_uops  # noqa: E402
from compiler.tune.transfer import pretrain, topk_scores, transfer_data  # noqa: E402
from compiler.tune.tuners import make_tuner  # noqa: E402

# how often each conv layer occurs in ResNet-18 (C1 runs on the CPU; C3 does not occur)
RESNET18_COUNT = {
    "C2": 4,
    "C4": 1,
    "C5": 1,
    "C6": 3,
    "C7": 1,
    "C8": 1,
    "C9": 3,
    "C10": 1,
    "C11": 1,
    "C12": 3,
}


def log_msg(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.log = Path(args.log)
        self.ex = LocalExecutor(args.workers)
        self.fresh = 0
        self.fresh_by_part: dict[str, int] = {}

    def db(self) -> list[Record]:
        return load_records(self.log)

    def run(self, part: str, task: Task, tuner, budget: int, measure_fn=measure_vta_job, ex=None):
        res = tune(
            task, tuner, ex or self.ex, budget, self.log, self.args.batch, measure_fn=measure_fn
        )
        self.fresh += res.fresh
        self.fresh_by_part[part] = self.fresh_by_part.get(part, 0) + res.fresh
        return res

    def measure_points(self, part: str, task: Task, knobs_list: list[dict], tuner: str) -> None:
        """Measure the points not yet in the database (heuristic, exhaustive)."""
        have = {r.knobs_key for r in self.db() if r.task == task.key and r.result.ok}
        todo = [k for k in knobs_list if json.dumps(k, sort_keys=True) not in have]
        for i in range(0, len(todo), 64):
            chunk = todo[i : i + 64]
            jobs = [{"task": task.to_dict(), "knobs": k} for k in chunk]
            out = self.ex.map(measure_vta_job, jobs, 120)
            RecordLog(self.log).append(
                [
                    Record(task.key, k, MeasureResult.from_dict(o), task.to_dict(), tuner)
                    for k, o in zip(chunk, out, strict=True)
                ]
            )
        self.fresh += len(todo)
        self.fresh_by_part[part] = self.fresh_by_part.get(part, 0) + len(todo)


def heuristic_knobs(task: Task) -> dict:
    k = default_knobs(task.build_op(), task.hw).to_dict()
    return k | {"bias_on": "gemm"}


def utilization_bound(task: Task) -> float:
    """Upper bound of useful GEMM cycles ÷ cycles for any schedule of this space: the compute
    module runs every micro-op at most one per cycle, and each output row needs, besides its
    GEMM micro-ops, one reset and one micro-op per epilogue stage (bias on the GEMM unit: one
    cycle; on the ALU: two)."""
    op = task.build_op()
    useful = useful_gemm_uops(task)
    rows = 1
    for e in op.gemm.shape[:-2]:
        rows *= e
    return useful / (useful + rows * (1 + len(op.epilogue)))


def median_or_none(xs) -> float | None:
    """The median, or None when there is nothing to take it over (e.g. transfer skipped)."""
    return median(xs) if xs else None


def trials_to(res, target: float, budget: int) -> tuple[int, bool]:
    t = res.trials_to(target)
    return (t, True) if t is not None else (budget + 1, False)


def median(xs) -> float:
    return float(np.median(np.asarray(xs, dtype=float)))


def vta_part(b: Bench, out: dict) -> None:
    a = b.args
    tasks = {n: layer_task(n, "default") for n in a.layers}
    # 1. heuristic + exhaustive
    for t in tasks.values():
        b.measure_points("heuristic", t, [heuristic_knobs(t)], "heuristic")
    for n in a.exhaustive:
        sp = VtaSpace(tasks[n])
        pts = sp.valid_points()
        log_msg(f"exhaustive {n}: {len(pts)} valid points")
        b.measure_points("exhaustive", tasks[n], [sp.knobs(p).to_dict() for p in pts], "exhaustive")
    # 2. tuners on the compare layers (xgb seed 0 also on every other layer: the tuned figure)
    runs: dict[str, dict[str, list]] = {}
    for n in a.layers:
        sp = VtaSpace(tasks[n])
        names = a.tuners if n in a.compare else ["xgb"]
        seeds = range(a.seeds) if n in a.compare else [0]
        for name in names:
            for s in seeds if name != "grid" else [0]:
                t0 = time.time()
                r = b.run("tuners", tasks[n], make_tuner(name, sp, s), a.budget)
                runs.setdefault(n, {}).setdefault(name, []).append(r)
                log_msg(
                    f"{n} {name} seed {s}: best {r.best_cost:,.0f} fresh {r.fresh} "
                    f"({time.time() - t0:.0f} s)"
                )
    db = b.db()
    layers = {}
    for n, t in tasks.items():
        useful = useful_gemm_uops(t)
        heur = best_record([r for r in db if r.tuner == "heuristic"], t.key)
        best = best_record(db, t.key)
        n_points = len({r.knobs_key for r in db if r.task == t.key and r.result.ok})
        layers[n] = {
            "heuristic_cycles": heur.result.cost,
            "heuristic_utilization": useful / heur.result.cost,
            "tuned_cycles": best.result.cost,
            "tuned_utilization": useful / best.result.cost,
            "utilization_upper_bound": utilization_bound(t),
            "optimum": "exhaustive" if n in a.exhaustive else "best record in the database",
            "measured_points": n_points,
            "valid_points": len(VtaSpace(t).valid_points()),
            "tuned_knobs": best.knobs,
            "xgb_seed0_cycles": runs[n]["xgb"][0].best_cost,
        }
    # trials to 95 %
    ttf: dict[str, dict] = {}
    for n in a.compare:
        opt = layers[n]["tuned_cycles"]
        ttf[n] = {}
        for name, rs in runs[n].items():
            tt = [trials_to(r, opt / 0.95, a.budget) for r in rs]
            ttf[n][name] = {
                "trials": [t for t, _ in tt],
                "reached": [ok for _, ok in tt],
                "median": median([t for t, _ in tt]),
            }
    ratios = [ttf[n]["xgb"]["median"] / ttf[n]["random"]["median"] for n in a.compare]
    cold = [
        ttf[n]["xgb-cold"]["median"] / ttf[n]["random"]["median"]
        for n in a.compare
        if "xgb-cold" in ttf[n]
    ]
    # the same at 99 % of the optimum (95 % is easy where the heuristic's region is wide)
    tt99 = {}
    for n in a.compare:
        opt = layers[n]["tuned_cycles"]
        tt99[n] = {
            name: median([trials_to(r, opt / 0.99, a.budget)[0] for r in rs])
            for name, rs in runs[n].items()
        }
    # curves
    panels = {}
    for n in a.compare:
        useful = useful_gemm_uops(tasks[n])
        curves = {
            name: [best_so_far(r.history, useful) for r in rs] for name, rs in runs[n].items()
        }
        panels[n] = (curves, layers[n]["tuned_utilization"], layers[n]["heuristic_utilization"])
    if a.plot:
        plot_curves(panels, a.plot, "ResNet-18 layers on hw_sim, default config")
    # 3. transfer (leave-one-out over layers)
    transfer = {}
    for n in a.compare:
        t = tasks[n]
        data = transfer_data(db, exclude=(t.key,))
        data = _only_config(data, db, "default")
        if len(data.y) == 0:
            # leave-one-out needs other layers' records: with one layer there is nothing to learn
            transfer[n] = {"skipped": "no OK records of other layers at this config"}
            log_msg(f"transfer {n}: skipped (no records of other layers)")
            continue
        rs = [
            b.run("transfer", t, make_tuner("xgb", VtaSpace(t), s, transfer=data), a.budget)
            for s in range(a.seeds)
        ]
        opt = layers[n]["tuned_cycles"]
        tt = [trials_to(r, opt / 0.95, a.budget)[0] for r in rs]
        model = pretrain(db, exclude=(t.key,))
        transfer[n] = {
            "trials_with_transfer": tt,
            "median_with_transfer": median(tt),
            "median_from_scratch": ttf[n]["xgb"]["median"],
            "gain": ttf[n]["xgb"]["median"] / median(tt),
            "pretrain_rows": int(len(data.y)),
            "topk": topk_scores(model, b.db(), [t.key]),
        }
    done = [v for v in transfer.values() if "skipped" not in v]
    cross = cross_config(b, db) if a.cross_config else None
    counts = {n: c for n, c in RESNET18_COUNT.items() if n in layers}
    total_h = sum(c * layers[n]["heuristic_cycles"] for n, c in counts.items())
    total_t = sum(c * layers[n]["tuned_cycles"] for n, c in counts.items())
    xgb0 = [runs[n]["xgb"][0] for n in a.layers]
    tu = [v["tuned_utilization"] for v in layers.values()]
    hu = [v["heuristic_utilization"] for v in layers.values()]
    bound = [v["utilization_upper_bound"] for v in layers.values()]
    out.update(
        {
            "layers": layers,
            "trials_to_95": ttf,
            "trials_to_95_xgb_over_random": median(ratios),
            "trials_to_95_xgb_over_random_per_layer": dict(zip(a.compare, ratios, strict=True)),
            # the same tuner without the analytic prior (its first batch random, as AutoTVM's)
            "trials_to_95_xgb_cold_over_random": median(cold) if cold else None,
            "trials_to_99_median": tt99,
            "trials_to_99_xgb_over_random": median(
                [tt99[n]["xgb"] / tt99[n]["random"] for n in a.compare]
            ),
            "transfer": transfer,
            "transfer_gain": median_or_none([v["gain"] for v in done]),
            "top1_score_heldout": median_or_none([v["topk"][1] for v in done]),
            "top5_score_heldout": median_or_none([v["topk"][5] for v in done]),
            "cross_config": cross,
            "tuned_mean_utilization": float(np.mean(tu)),
            "tuned_peak_utilization": float(np.max(tu)),
            "heuristic_mean_utilization": float(np.mean(hu)),
            "heuristic_peak_utilization": float(np.max(hu)),
            "utilization_upper_bound_mean": float(np.mean(bound)),
            "resnet18_accel_cycles_heuristic": total_h,
            "resnet18_accel_cycles_tuned": total_t,
            "resnet18_accel_speedup": total_h / total_t,
            "tuning_wall_s": sum(r.wall_s for r in xgb0),
            # what the same runs cost from an empty database: this run's tuner time (recalled
            # points cost ~0) + every trial's recorded measurement time over the worker count
            "tuning_wall_s_from_scratch_estimate": sum(r.wall_s for r in xgb0)
            + sum(measured_wall(db, r) for r in xgb0) / a.workers,
            "tuning_wall_trials": sum(r.trials for r in xgb0),
            "tuning_wall_fresh_measurements": sum(r.fresh for r in xgb0),
        }
    )


def measured_wall(db: list[Record], res) -> float:
    """Sum of the recorded measurement times of the trials of `res`."""
    wall = {(r.task, r.knobs_key): r.result.wall_s for r in db}
    key = res.task.key
    return sum(wall.get((key, json.dumps(k, sort_keys=True)), 0.0) for k in res.knobs_history)


def _only_config(data, db, config: str):
    """Keep the pre-training rows of tasks at `config` (the cross-config test is separate)."""
    keep = [i for i, k in enumerate(data.tasks) if json.loads(k)["config"] == config]
    mask = np.isin(data.groups, keep)
    data.x, data.y, data.groups = data.x[mask], data.y[mask], data.groups[mask]
    return data


def cross_config(b: Bench, db) -> dict:
    """xgb at the small config on one layer: from scratch vs pre-trained on default's records."""
    a = b.args
    t = layer_task(a.cross_layer, "small")
    sp = VtaSpace(t)
    b.measure_points("cross_config", t, [heuristic_knobs(t)], "heuristic")
    scratch = [b.run("cross_config", t, make_tuner("xgb", sp, s), a.budget) for s in range(a.seeds)]
    data = _only_config(transfer_data(db, exclude=(t.key,)), db, "default")
    warm = [
        b.run("cross_config", t, make_tuner("xgb", sp, s, transfer=data), a.budget)
        for s in range(a.seeds)
    ]
    opt = best_record(b.db(), t.key).result.cost
    ts = [trials_to(r, opt / 0.95, a.budget)[0] for r in scratch]
    tw = [trials_to(r, opt / 0.95, a.budget)[0] for r in warm]
    useful = useful_gemm_uops(t)
    heur = best_record([r for r in b.db() if r.tuner == "heuristic"], t.key)
    return {
        "layer": a.cross_layer,
        "config": "small",
        "pretrained_on": "default",
        "trials_from_scratch": ts,
        "trials_with_transfer": tw,
        "gain": median(ts) / median(tw),
        "tuned_utilization": useful / opt,
        "heuristic_utilization": useful / heur.result.cost,
    }


def cpu_part(b: Bench, out: dict) -> None:
    from compiler.cpu.runtime import set_num_threads
    from compiler.llvm import host
    from compiler.tune.cpu_space import CpuConvSpace
    from scripts.bench_cpu import conv_model, ort_session, race

    a = b.args
    set_num_threads(1)
    ex = SerialExecutor()  # timings run alone, one thread
    cpu = host().cpu
    rows = {}
    for n in LAYERS:
        t = layer_task(n, cpu, target="cpu")
        sp = CpuConvSpace(t)
        r = b.run("cpu", t, make_tuner("grid", sp, 0), a.cpu_trials, measure_cpu_job, ex)
        best = best_record(b.db(), t.key)
        rows[n] = race_layer(t, sp, best.knobs, conv_model, ort_session, race, a.runs)
        rows[n]["trials"] = r.trials
        log_msg(
            f"cpu {n}: tuned/ort {rows[n]['tuned_vs_ort_1t']:.2f} "
            f"default/ort {rows[n]['default_vs_ort_1t']:.2f}"
        )
    g = lambda k: math.exp(np.mean([math.log(v[k]) for v in rows.values()]))  # noqa: E731
    out["cpu"] = {"host_cpu": cpu, "layers": rows}
    out["cpu_tuned_geomean_vs_ort_1t"] = g("tuned_vs_ort_1t")
    out["cpu_default_geomean_vs_ort_1t"] = g("default_vs_ort_1t")


def race_layer(t, sp, best_knobs, conv_model, ort_session, race, runs) -> dict:
    from compiler.cpu import conv2d as conv_mod
    from compiler.cpu import ops
    from compiler.cpu.layout import pack_conv_weight, pack_nchwc_numpy
    from compiler.tune.cpu_space import conv_shape

    shape = conv_shape(t)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, shape.c, shape.h, shape.w)).astype(np.float32)
    w = (rng.standard_normal((shape.o, shape.c, shape.kh, shape.kw)) * 0.1).astype(np.float32)
    sess = ort_session(conv_model(x.shape, w, shape.stride[0], shape.pad[0]), 1)
    oh, ow = shape.out_hw
    systems = {}
    for name, kn in (("default", sp.default), ("tuned", conv_mod.Conv2dKnobs(**best_knobs))):
        xb = pack_nchwc_numpy(x, kn.ic_bn, shape.pad)
        wb = pack_conv_weight(w, kn.ic_bn, kn.oc_bn)
        o = np.empty((1, shape.o // kn.oc_bn, oh, ow, kn.oc_bn), np.float32)
        systems[name] = lambda xb=xb, wb=wb, o=o, kn=kn: ops.conv2d_nchwc_kernel(
            xb, wb, shape, kn, out=o
        )
    systems["ort"] = lambda: sess.run(None, {"x": x})
    s = race(systems, runs)
    return {
        "tuned_knobs": best_knobs,
        "tuned_is_default": best_knobs == asdict(sp.default),
        "tuned_ms": s["tuned"] * 1e3,
        "default_ms": s["default"] * 1e3,
        "ort_ms": s["ort"] * 1e3,
        "tuned_vs_ort_1t": s["ort"] / s["tuned"],
        "default_vs_ort_1t": s["ort"] / s["default"],
    }


def lscpu_model() -> str:
    try:
        txt = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return platform.processor()
    for line in txt.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--log", default="docs/tune-records.jsonl", help="records database (reused)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=32, help="trials per tuner run")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--layers", nargs="*", default=VTA_LAYERS, help="accelerator layers")
    ap.add_argument("--compare", nargs="*", default=["C6", "C11"])
    ap.add_argument("--tuners", nargs="*", default=["random", "ga", "xgb", "xgb-cold"])
    ap.add_argument("--exhaustive", nargs="*", default=[])
    ap.add_argument("--cross-config", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--cross-layer", default="C6")
    ap.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--cpu-trials", type=int, default=12)
    ap.add_argument("--runs", type=int, default=5, help="alternating CPU race runs (median)")
    ap.add_argument("--plot", default="docs/tune-curves.png")
    ap.add_argument(
        "--reuse-cpu",
        metavar="JSON",
        help="with --no-cpu: copy the CPU race figures of an earlier run's JSON (stated)",
    )
    a = ap.parse_args(argv)
    t0 = time.time()
    b = Bench(a)
    before = len(b.db())
    out: dict = {
        "host_cpu": lscpu_model(),
        "records_log": str(a.log),
        "records_before": before,
        "seeds": a.seeds,
        "budget_trials_per_run": a.budget,
        "compare_layers": a.compare,
        "exhaustive_layers": a.exhaustive,
    }
    try:
        vta_part(b, out)
        out["vta_part_wall_s"] = time.time() - t0
        if a.cpu:
            cpu_part(b, out)
        elif a.reuse_cpu:
            earlier = json.loads(Path(a.reuse_cpu).read_text())
            for k, v in earlier.items():
                if k.startswith("cpu"):
                    out[k] = v
            out["cpu_part_reused_from"] = a.reuse_cpu
    finally:
        b.ex.close()
    out["fresh_measurements"] = b.fresh
    out["fresh_measurements_by_part"] = b.fresh_by_part
    out["records_after"] = len(b.db())
    out["bench_wall_s"] = time.time() - t0
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(summary(out))
    return 0


def summary(o: dict) -> str:
    lines = [
        f"host: {o['host_cpu']}; {o['fresh_measurements']} fresh measurements "
        f"({o['records_before']} records reused); {o['bench_wall_s'] / 60:.1f} min"
    ]
    lines.append("| layer | heuristic util | tuned util | bound | optimum |")
    lines.append("|---|---|---|---|---|")
    for n, v in o["layers"].items():
        lines.append(
            f"| {n} | {v['heuristic_utilization']:.1%} | {v['tuned_utilization']:.1%} "
            f"| {v['utilization_upper_bound']:.1%} | {v['optimum']} |"
        )
    keys = (
        "trials_to_95_xgb_over_random",
        "transfer_gain",
        "tuned_mean_utilization",
        "tuned_peak_utilization",
        "cpu_tuned_geomean_vs_ort_1t",
        "tuning_wall_s",
    )
    for k in keys:
        lines.append(f"{k}: {o.get(k)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
