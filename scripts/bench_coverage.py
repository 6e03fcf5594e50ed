"""Accelerator coverage per model: how much of each model runs on the accelerator, how often
the data crosses between accelerator and CPU, and what the co-run costs.

    .venv/bin/python scripts/bench_coverage.py [--json] [--config default] [--only yolo,...]

Models: the built-in ResNet-18 (224x224), MobileNet-style (160x160) and YOLO-style (320x320)
and every model `scripts/fetch_models.py` cached (~/.cache/vtac/models; PP-OCR at the shapes of
scripts/bench_model.py). Per model: MACs on the accelerator and on the CPU on the *unpadded*
layer shapes (and the padding overhead apart), the accelerated share, launches (accelerator, CPU,
of which boundary-only), boundary crossings (values produced on one side and read on the other,
with bytes), the sequential co-run latency on hw_sim (accelerator at the config clock plus
launch overhead; the CPU launches measured on this host, median of `--repeats`), the CPU's
share of it (CPU compute + boundary work), and whether every launch is bit-exact against the
int8 reference. A model that fails to import, compile or run gets a row with its `error`; the
script never stops on one model. Calibration and the input: seeded uniform [0, 1) arrays.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import ZOO_SHAPES, corun, host_cpu  # noqa: E402

from compiler.driver.compile_model import compile_model  # noqa: E402
from compiler.frontend.onnx_import import import_onnx  # noqa: E402
from compiler.graph.ref.fused import FUSED_OP  # noqa: E402
from compiler.models import BUILTIN_MODELS  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from tests.graph.real_models import KEEP_FLOAT  # noqa: E402

BUILTIN_IMAGES = {"resnet18": 224, "mobilenet": 160, "yolo": 320}


def model_sources(cache: Path) -> list[tuple[str, object]]:
    """(name, loader) of every model: built-ins first, then the cached ONNX files."""
    out: list[tuple[str, object]] = [
        (name, lambda name=name: BUILTIN_MODELS[name](image=BUILTIN_IMAGES[name]))
        for name in BUILTIN_IMAGES
    ]
    for path in sorted(cache.glob("light/*.onnx")) + sorted(cache.glob("ppocr/*.onnx")):
        out.append((path.stem, lambda p=path: import_onnx(p, shapes=ZOO_SHAPES.get(p.stem, {}))))
    return out


def measure(name: str, load, cfg, repeats: int, fuse_boundaries: bool = True) -> dict:
    t0 = time.perf_counter()
    g = load()
    inputs = {n: (g.types[n].shape, g.types[n].dtype) for n in g.inputs}
    rng = np.random.default_rng(1)
    calib = [{n: rng.uniform(0, 1, s).astype(d) for n, (s, d) in inputs.items()} for _ in range(2)]
    feed = {n: rng.uniform(0, 1, s).astype(d) for n, (s, d) in inputs.items()}
    keep = list(KEEP_FLOAT.get(name, ()))
    opts = {"keep_float": keep} if keep else None
    model = compile_model(g, cfg, calib, fuse_boundaries=fuse_boundaries, quant_options=opts)
    compile_s = time.perf_counter() - t0
    run = corun(model, feed, repeats)
    prof = run["profile"]
    cpu = model.cpu_launches()
    padded = sum(la.padded_macs for la in model.accel_launches())
    total = prof.accel_macs + prof.cpu_macs
    seq = prof.sequential_us
    return {
        "name": name,
        "accel_macs": prof.accel_macs, "cpu_macs": prof.cpu_macs,
        "padding_macs": padded - prof.accel_macs,
        "accel_share": prof.accel_macs / total if total else 0.0,
        "accel_launches": len(model.accel_launches()), "cpu_launches": len(cpu),
        "boundary_launches": sum(1 for la in cpu if la.boundary),
        "fused_boundary_launches": sum(1 for la in cpu if FUSED_OP in la.ops),
        **prof.crossings.to_json(),
        "latency_ms": seq / 1e3, "accel_ms": prof.accel_us / 1e3, "cpu_ms": prof.cpu_us / 1e3,
        "boundary_ms": prof.boundary_us / 1e3,
        "cpu_share": (prof.cpu_us + prof.boundary_us) / seq if seq else 0.0,
        "fallback_groups": len(model.meta["fallbacks"]), "numpy_nodes": len(prof.numpy_nodes),
        "bit_exact": run["bit_exact"], "end_to_end_bit_exact": run["end_to_end_bit_exact"],
        "compile_s": compile_s, "keep_float": keep,
        "alu_mul_launches": len(model.meta.get("alu_mul_launches", ())),
    }  # fmt: skip


def _commit() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        cmd = ["git", "rev-parse", "--short", "HEAD"]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=root, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(doc: dict) -> str:
    head = (f"{'model':<22} {'accel%':>7} {'crossings':>9} {'launches':>9} {'latency ms':>10} "
            f"{'CPU%':>6} {'exact':>5}")  # fmt: skip
    lines = [f"{doc['host']}, config {doc['config']}, commit {doc['commit']}, {doc['date']}",
             head, "-" * len(head)]  # fmt: skip
    for r in doc["models"]:
        if "error" in r:
            lines.append(f"{r['name']:<22} error: {r['error'][:80]}")
            continue
        launches = r["accel_launches"] + r["cpu_launches"]
        lines.append(
            f"{r['name']:<22} {100 * r['accel_share']:6.1f}% {r['boundary_crossings']:>9} "
            f"{launches:>9} {r['latency_ms']:>10.1f} {100 * r['cpu_share']:5.1f}% "
            f"{'yes' if r['bit_exact'] else 'NO':>5}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default",
                    help="hardware config name or .json path (`mul`: the ALU's MUL runs "
                         "HardSwish and Mul on the accelerator)")  # fmt: skip
    ap.add_argument("--repeats", type=int, default=3, help="CPU timing repeats (median)")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "vtac" / "models"))
    ap.add_argument("--no-fuse-boundaries", action="store_true",
                    help="one CPU launch per boundary node (the compiler before fused "
                         "boundary kernels)")  # fmt: skip
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    only = {s for s in args.only.split(",") if s}
    doc = {"host": host_cpu(), "config": cfg.name, "commit": _commit(),
           "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "fuse_boundaries": not args.no_fuse_boundaries, "models": []}  # fmt: skip
    for name, load in model_sources(Path(args.cache)):
        if only and name not in only:
            continue
        try:
            row = measure(name, load, cfg, args.repeats, not args.no_fuse_boundaries)
        except Exception as e:  # noqa: BLE001 -- one model's failure is a row, not the end
            row = {"name": name, "error": f"{type(e).__name__}: {e}"}
            traceback.print_exc(file=sys.stderr)
        print(f"{name}: {row}", file=sys.stderr)
        doc["models"].append(row)
    print(json.dumps(doc, indent=1) if args.json else render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
