"""Data movement kept int8 on the accelerator: before -> after on whole models, and the
accelerator ALU operators (max pool, nearest x2 upsample) alone.

    .venv/bin/python scripts/bench_int8_movement.py [--config default] [--repeats 5] [--json]
    .venv/bin/python scripts/bench_int8_movement.py --zoo squeezenet inception_v1 densenet

"before" compiles the same model with the int8 data-movement rules off (`int8_ops.int8_form`
keeps every node float, `block_views` rewrites nothing): max pool, concat, split, upsample and
lone adds then run in float on the CPU between dequantize/quantize (and unpack/pack) pairs, as
before this work. Per model: launches (accelerator / CPU), boundary launches (CPU launches that
only quantize, dequantize, pack or unpack — each one an accelerator<->CPU crossing of a tensor),
accelerator cycles, sequential co-run latency (accelerator at the config clock plus the per-launch
overhead; CPU measured here, median of `--repeats` runs) with its CPU share, arena bytes, and
whether the co-run is bit-exact with the int8 reference. Per operator: cycles, ALU micro-ops,
GEMM-reset micro-ops, and ALU utilization = ALU busy cycles (1 per immediate micro-op, 2 per
tensor micro-op, 1 per reset row: the timing model's rates) / total cycles; compute_dma = the
share of cycles the compute module spends in its own DMA (the `ACC_8BIT` loads).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.driver.compile_model import BOUNDARY_OPS, compile_model  # noqa: E402
from compiler.models import resnet18  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from hw_sim.isa import AluInsn, GemmInsn  # noqa: E402
from runtime.device import get_device  # noqa: E402
from runtime.executor import Executor, compare_integer_values, reference_values  # noqa: E402
from runtime.profile import build_profile  # noqa: E402
from runtime.timeline import co_run_timeline  # noqa: E402
from scripts.bench_model import host_cpu  # noqa: E402
from tests.model.int8_blocks import yolo_blocks  # noqa: E402


@contextmanager
def int8_movement(on: bool):
    """Switch the int8 data-movement rules and the concat/split views off (for "before")."""
    import compiler.graph.pipeline as pipeline
    import compiler.graph.quant.quantize as quantize

    saved = quantize.int8_form, pipeline.block_views
    if not on:
        quantize.int8_form = lambda node, ctx: False
        pipeline.block_views = lambda g, cfg: g
    try:
        yield
    finally:
        quantize.int8_form, pipeline.block_views = saved


def _samples(g, n, seed):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(g.types[k].shape).astype(np.float32) for k in g.inputs}
            for _ in range(n)]  # fmt: skip


def model_row(g, cfg, on: bool, repeats: int) -> dict:
    with int8_movement(on):
        model = compile_model(g, cfg, _samples(g, 2, 0), keep_float_model=False)
    feed = _samples(g, 1, 9)[0]
    ex = Executor(model)
    res = ex.run(feed, cpu_repeats=repeats, keep_values=True)
    exact = compare_integer_values(res.values, reference_values(model, feed)) == []
    prof = build_profile(
        model, res.launches, co_run_timeline(model, [r.time_us for r in res.launches])
    )
    cpu = [la for la in model.launches if la.device == "cpu"]
    boundary = [la for la in cpu if all(op in BOUNDARY_OPS for op in la.ops)]
    seq = prof.sequential_us
    return {
        "accel_launches": len(model.accel_launches()), "cpu_launches": len(cpu),
        "boundary_launches": len(boundary), "accel_cycles": prof.accel_cycles,
        "latency_us": seq, "accel_us": prof.accel_us, "cpu_us": prof.cpu_us,
        "boundary_us": prof.boundary_us, "cpu_share": (prof.cpu_us + prof.boundary_us) / seq,
        "arena_bytes": model.arena_bytes, "bit_exact": exact,
        "cpu_ops": sorted({op for la in cpu for op in la.ops}),
    }  # fmt: skip


def op_row(kern, cfg, shape) -> dict:
    dev = get_device("hw_sim", cfg)
    x = np.random.default_rng(0).integers(-128, 128, shape).astype(np.int8)
    _, stats = kern.run(dev, data=x)
    insns = kern.program.insns
    alu = sum(i.n_uops * (1 if i.use_imm else 2) for i in insns if isinstance(i, AluInsn))
    reset = sum(i.n_uops for i in insns if isinstance(i, GemmInsn) and i.reset)
    compute = stats.modules["compute"]
    return {"shape": list(shape), "knobs": kern.knobs.to_dict(), "cycles": stats.total_cycles,
            "alu_uops": stats.alu_uops, "reset_uops": reset,
            "alu_utilization": (alu + reset) / stats.total_cycles,
            "compute_busy": compute["busy"] / stats.total_cycles,
            "compute_dma": compute["memory"] / stats.total_cycles,
            "instructions": len(insns)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--zoo", nargs="*", default=None, metavar="NAME",
                    help="also these cached real models (~/.cache/vtac/models/light, by name "
                         "substring; none given: all)")  # fmt: skip
    args = ap.parse_args()
    cfg = load_config(args.config)
    from compiler.vta.maxpool import build_maxpool, maxpool_op
    from compiler.vta.upsample import build_upsample2x, upsample2x_op

    ops = {
        "maxpool 3x3/2 p1, ResNet-18 stem (1,64,112,112)": (
            build_maxpool(maxpool_op(cfg, (1, 64, 112, 112), (3, 3), (2, 2), (1,) * 4), cfg),
            (1, 64, 112, 112)),
        "maxpool 5x5/1 p2, SPPF (1,256,20,20)": (
            build_maxpool(maxpool_op(cfg, (1, 256, 20, 20), (5, 5), (1, 1), (2,) * 4), cfg),
            (1, 256, 20, 20)),
        "upsample x2, YOLO neck (1,256,20,20)": (
            build_upsample2x(upsample2x_op(cfg, (1, 256, 20, 20)), cfg), (1, 256, 20, 20)),
    }  # fmt: skip
    rows = {k: op_row(kern, cfg, s) for k, (kern, s) in ops.items()}
    out = {"host": host_cpu(), "config": cfg.name, "clock_mhz": cfg.CLOCK_MHZ,
           "operators": rows, "models": {}}  # fmt: skip
    models = {"resnet18-224": resnet18(seed=0, image=224),
              "yolo_blocks-64 (c=32)": yolo_blocks(c=32, image=64)}  # fmt: skip
    if args.zoo is not None:
        from compiler.frontend.onnx_import import import_onnx

        cache = Path.home() / ".cache" / "vtac" / "models" / "light"
        for path in sorted(cache.glob("*.onnx")):
            if not args.zoo or any(z in path.stem for z in args.zoo):
                models[path.stem] = import_onnx(path)
    for name, g in models.items():
        out["models"][name] = {
            "before": model_row(g, cfg, False, args.repeats),
            "after": model_row(g, cfg, True, args.repeats),
        }
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"host: {out['host']}, config {cfg.name} at {cfg.CLOCK_MHZ} MHz")
    for k, r in out["operators"].items():
        util = 100 * r["alu_utilization"]
        print(f"{k}: {r['cycles']:,} cycles, {r['alu_uops']:,} ALU uops, "
              f"ALU utilization {util:.1f} %, knobs {r['knobs']}")  # fmt: skip
    for name, m in out["models"].items():
        for when in ("before", "after"):
            r = m[when]
            print(f"{name} {when}: A/C {r['accel_launches']}/{r['cpu_launches']} "
                  f"(boundary {r['boundary_launches']}), {r['accel_cycles']:,} cycles, "
                  f"latency {r['latency_us'] / 1e3:.2f} ms, CPU share "
                  f"{100 * r['cpu_share']:.1f} %, arena {r['arena_bytes'] / 2**20:.2f} MiB, "
                  f"bit-exact {r['bit_exact']}")  # fmt: skip


if __name__ == "__main__":
    main()
