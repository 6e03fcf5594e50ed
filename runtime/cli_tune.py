"""`vtac tune --layer C6` / `vtac tune MODEL`: tune accelerator tasks on hw_sim, logging every
measurement.

    vtac tune model.onnx --trials 32 --log tune.jsonl # every distinct task of a model
                                                      # (convs, dense, pools, upsamples, adds)

    vtac tune --layer C6 --trials 200 --tuner xgb --log tune.jsonl --config default
    vtac tune --layer C6 --log tune.jsonl             # resumes: finished points are recalled
    vtac tune --layer C6 --scheduler tcp://host:8786  # measure on a Dask cluster
    vtac tune --layer C6 --transfer                   # warm-start from the log's other tasks
    vtac tune --layer C6 --best --log tune.jsonl      # print the best record, measure nothing
    vtac tune --merge a.jsonl b.jsonl --log all.jsonl # merge logs (one record per point)

Prints a progress bar (best so far, trials/s, share of proposed points filtered as invalid),
then the best schedule, its cycles and utilization against the heuristic's.
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "tune",
        help="auto-tune a layer or a whole model's accelerator tasks on hw_sim",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("model", nargs="?",
                   help="an .onnx model or a built-in name: tune all its tasks")  # fmt: skip
    p.add_argument("--layer", help="a ResNet-18 conv layer, C1-C12")
    p.add_argument("--trials", type=int, default=64, help="measured trials (default 64)")
    p.add_argument("--tuner", default="xgb", choices=["xgb", "xgb-cold", "ga", "random", "grid"])
    p.add_argument(
        "--log", default="tune.jsonl", help="records file (appended; default %(default)s)"
    )
    p.add_argument("--config", default="default", help="hardware config name or .json path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8, help="points measured per batch")
    p.add_argument("--workers", type=int, default=2, help="local measurement processes")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://HOST:PORT)")
    p.add_argument(
        "--transfer",
        action="store_true",
        help="xgb: warm-start from the log's records of other tasks",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--best", action="store_true", help="print the log's best record and stop")
    p.add_argument("--merge", nargs="+", metavar="LOG", help="merge these logs into --log")
    p.set_defaults(func=run)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="trial", disable=not enabled, file=sys.stderr)
    state = {"n": 0}

    def update(res) -> None:
        bar.update(res.trials - state["n"])
        state["n"] = res.trials
        proposed = res.trials + sum(res.invalid.values())
        bar.set_postfix(
            best=f"{res.best_cost:,.0f}cy" if res.best_cost else "-",
            tps=f"{res.trials / max(res.wall_s, 1e-9):.1f}/s",
            invalid=f"{sum(res.invalid.values()) / max(1, proposed):.0%}",
            fresh=res.fresh,
        )

    return bar, update


def run(args) -> int:
    from compiler.tune.space import VtaSpace
    from compiler.tune.task import LAYERS, layer_task

    if args.merge:
        from compiler.tune.records import merge_logs

        n = merge_logs(args.merge, args.log)
        print(f"merged {len(args.merge)} logs: {n} records appended to {args.log}")
        return 0
    if args.model:
        return _tune_model(args)
    if not args.layer:
        print("vtac tune: give a model or --layer (one of " + ", ".join(LAYERS) + ")",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        task = layer_task(args.layer, args.config)
        space = VtaSpace(task)
    except (ValueError, OSError) as e:
        print(f"vtac tune: {e}", file=sys.stderr)
        return 2
    return _tune_task(task, space, args, args.layer)


def _tune_model(args) -> int:
    """Every distinct accelerator task of a model (as `vtac compile` would build it), in turn,
    `--trials` each, into one log; then `vtac compile --records LOG` uses them."""
    from compiler.driver.model_tasks import model_tasks
    from compiler.tune.kinds import make_space
    from hw_sim.config import load_config
    from runtime.cli_model import _import_model, _user_errors
    from runtime.inputs import synthetic_samples

    try:
        cfg = load_config(args.config)
        graph, _ = _import_model(args.model, {})
        inputs = {n: (graph.types[n].shape, graph.types[n].dtype) for n in graph.inputs}
        tasks = model_tasks(graph, cfg, synthetic_samples(inputs, 2))
    except (OSError, *_user_errors()) as e:
        print(f"vtac tune: {e}", file=sys.stderr)
        return 2
    print(f"{args.model}: {len(tasks)} distinct accelerator task(s)", file=sys.stderr)
    status = 0
    for i, task in enumerate(tasks, 1):
        print(f"[{i}/{len(tasks)}] {task.name} ({task.kind})", file=sys.stderr)
        status |= _tune_task(task, make_space(task), args, task.name)
    print(f"records in {args.log}: `vtac compile {args.model} --records {args.log}` uses them")
    return status


def _share(task, cycles: float) -> str:
    """Utilization (useful GEMM cycles ÷ cycles) for GEMM tasks; nothing for the ALU ones,
    whose 'useful work' (`kinds.useful_work`) is only a ranking label."""
    from compiler.tune.kinds import family, useful_work

    return f", utilization {useful_work(task) / cycles:.1%}" if family(task.kind) == "gemm" else ""


def _tune_task(task, space, args, label: str) -> int:
    from compiler.tune.kinds import heuristic_knobs
    from compiler.tune.measure import LocalExecutor, measure_vta_job
    from compiler.tune.records import load_records
    from compiler.tune.session import tune
    from compiler.tune.tuners import make_tuner

    if args.best:
        from compiler.tune.records import best_record

        r = best_record(args.log, task.key)
        if r is None:
            print(f"{label} at {task.hw.name}: no record in {args.log}")
            return 1
        print(
            f"{label} at {task.hw.name}: {r.result.cost:,.0f} cycles{_share(task, r.result.cost)}"
            f" ({r.tuner} seed {r.seed})"
        )
        print("knobs: " + ", ".join(f"{k}={v}" for k, v in r.knobs.items()))
        return 0
    kw = {}
    if args.transfer:
        if not args.tuner.startswith("xgb"):
            print("vtac tune: --transfer needs --tuner xgb or xgb-cold", file=sys.stderr)
            return 2
        from compiler.tune.transfer import transfer_data

        kw["transfer"] = transfer_data(load_records(args.log), (task.key,), space.family)
        print(
            f"transfer: {len(kw['transfer'].y)} records of {len(kw['transfer'].tasks)} other tasks",
            file=sys.stderr,
        )
    tuner = make_tuner(args.tuner, space, args.seed, **kw)
    if args.scheduler:
        from compiler.tune.dask_executor import DaskExecutor

        executor = DaskExecutor(args.scheduler)
    else:
        executor = LocalExecutor(args.workers)
    bar, update = _progress(args.trials, not args.no_progress)
    try:
        res = tune(
            task,
            tuner,
            executor,
            args.trials,
            args.log,
            args.batch,
            callback=update,
            measure_fn=measure_vta_job,
        )
    finally:
        bar.close()
        executor.close()
    heur_knobs = heuristic_knobs(task).to_dict()
    heur = measure_vta_job({"task": task.to_dict(), "knobs": heur_knobs})
    logged = any(r.task == task.key and r.knobs == heur_knobs for r in load_records(args.log))
    if heur.get("status") == "ok" and not logged:  # so a log's best is never worse than it
        from compiler.tune.measure import MeasureResult
        from compiler.tune.records import Record, RecordLog

        RecordLog(args.log).append(
            [
                Record(
                    task.key, heur_knobs, MeasureResult.from_dict(heur), task.to_dict(), "heuristic"
                )
            ]
        )
    print(
        f"{label} at {task.hw.name}: {res.trials} trials ({res.fresh} measured, "
        f"{res.trials - res.fresh} from the log) in {res.wall_s:.1f} s; invalid filtered: "
        + (", ".join(f"{k} {v}" for k, v in res.invalid.most_common()) or "none")
    )
    if res.errors:
        print("failed trials: " + ", ".join(f"{k} {v}" for k, v in res.errors.items()))
    if res.best_cost is None:
        print("no valid measurement")
        return 1
    heur_s = (
        f"{heur['cost']:,.0f} cycles{_share(task, heur['cost'])}"
        if heur.get("cost")
        else (f"heuristic failed: {heur.get('error')}")
    )
    print(f"best: {res.best_cost:,.0f} cycles{_share(task, res.best_cost)} (heuristic {heur_s})")
    print("knobs: " + ", ".join(f"{k}={v}" for k, v in res.best_knobs.items()))
    return 0
