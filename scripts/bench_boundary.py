"""Fused accelerator boundaries on the CPU, before -> after: the same model compiled with one
CPU launch per boundary node (`fuse_boundaries=False`) and with one fused kernel per boundary
chain, co-run on hw_sim in one process.

    .venv/bin/python scripts/bench_boundary.py [--model yolo] [--image 320] [--json]

Per variant: launches (accelerator, CPU, boundary-only, fused), the sequential co-run latency,
the accelerator, CPU-compute and boundary times (CPU launches measured on this host, median of
`--repeats` after a warm-up; a fused launch that also computes an activation counts as CPU
compute, so compare `cpu_plus_boundary_ms`), boundary crossings, and whether every launch is
bit-exact against the int8 reference (`bit_exact`) and the outputs equal between the variants.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import corun, host_cpu  # noqa: E402

from compiler.driver.compile_model import compile_model  # noqa: E402
from compiler.graph.ref.fused import FUSED_OP  # noqa: E402
from compiler.models import BUILTIN_MODELS  # noqa: E402
from hw_sim.config import load_config  # noqa: E402


def variant(model, run) -> dict:
    p = run["profile"]
    cpu = model.cpu_launches()
    return {
        "accel_launches": len(model.accel_launches()), "cpu_launches": len(cpu),
        "boundary_launches": sum(1 for la in cpu if la.boundary),
        "fused_launches": sum(1 for la in cpu if any(n.op == FUSED_OP for n in la.nodes)),
        "latency_ms": p.sequential_us / 1e3, "accel_ms": p.accel_us / 1e3,
        "cpu_ms": p.cpu_us / 1e3, "boundary_ms": p.boundary_us / 1e3,
        "cpu_plus_boundary_ms": (p.cpu_us + p.boundary_us) / 1e3,
        "boundary_crossings": p.crossings.count, "boundary_bytes": p.crossings.nbytes,
        "bit_exact": run["bit_exact"], "end_to_end_bit_exact": run["end_to_end_bit_exact"],
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolo", choices=sorted(BUILTIN_MODELS))
    ap.add_argument("--image", type=int, default=320)
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    g = BUILTIN_MODELS[args.model](image=args.image)
    rng = np.random.default_rng(1)
    shape = g.types["input"].shape
    calib = [{"input": rng.uniform(0, 1, shape).astype(np.float32)} for _ in range(2)]
    feed = {"input": rng.uniform(0, 1, shape).astype(np.float32)}
    doc = {"host": host_cpu(), "config": cfg.name, "model": f"{args.model} {args.image}",
           "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip
    outs = {}
    for key, fuse in (("unfused", False), ("fused", True)):
        model = compile_model(g, cfg, calib, fuse_boundaries=fuse)
        run = corun(model, feed, args.repeats)
        doc[key] = variant(model, run)
        outs[key] = run["result"].outputs
    doc["same_outputs"] = all(
        np.array_equal(outs["unfused"][o], outs["fused"][o]) for o in outs["unfused"]
    )
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        for key in ("unfused", "fused"):
            print(key, doc[key])
        print("same outputs:", doc["same_outputs"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
