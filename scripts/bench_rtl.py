"""Benchmark: simulated cycles per second of `hw_sim` vs the Verilated RTL, in one run.

    python scripts/bench_rtl.py [--config default] [--programs blocked_gemm|examples] [--json]

Both devices run the same programs (by default the blocked-GEMM program, 256x256 in 64-blocks,
with 1 and 2 virtual threads). The RTL time is the whole device run (writing the program files,
the Verilated simulation, reading the results); the build is cached and done before timing.
Each measurement is the best of `--repeat` runs. With `--json` the figures are one JSON object
with at least `hw_sim_cycles_per_s`, `rtl_cycles_per_s`, `speedup` (hw_sim / RTL) and
`cycles_equal` (every program's total cycles matched).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hw_sim.config import load_config  # noqa: E402
from hw_sim.examples import EXAMPLES, blocked_gemm  # noqa: E402
from hw_sim.simulator import simulate  # noqa: E402
from runtime.rtl_build import build  # noqa: E402
from runtime.rtl_device import run_rtl  # noqa: E402


def _programs(cfg, which: str):
    rng = np.random.default_rng(0)
    if which == "blocked_gemm":
        for vt in (1, 2):
            yield f"blocked_gemm_vt{vt}", blocked_gemm(cfg, rng, virtual_threads=vt)[0]
    else:
        for name, gen in EXAMPLES.items():
            yield name, gen(cfg, rng)[0]


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--programs", choices=("blocked_gemm", "examples"), default="blocked_gemm")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    cfg = load_config(args.config)
    build(cfg)  # not timed
    rows = []
    for name, prog in _programs(cfg, args.programs):
        t_hw, res = _best(lambda p=prog: simulate(p), args.repeat)
        t_rtl, (stats, _) = _best(lambda p=prog: run_rtl(p, p.dram.copy()), args.repeat)
        rows.append(
            {
                "program": name,
                "insns": len(prog.insns),
                "hw_sim_cycles": res.stats.total_cycles,
                "rtl_cycles": stats.total_cycles,
                "hw_sim_s": t_hw,
                "rtl_s": t_rtl,
            }
        )
    cycles = sum(r["hw_sim_cycles"] for r in rows)
    hw_s = sum(r["hw_sim_s"] for r in rows)
    rtl_s = sum(r["rtl_s"] for r in rows)
    doc = {
        "config": cfg.name,
        "programs": rows,
        "total_cycles": cycles,
        "hw_sim_cycles_per_s": cycles / hw_s,
        "rtl_cycles_per_s": sum(r["rtl_cycles"] for r in rows) / rtl_s,
        "cycles_equal": all(r["hw_sim_cycles"] == r["rtl_cycles"] for r in rows),
    }
    doc["speedup"] = doc["hw_sim_cycles_per_s"] / doc["rtl_cycles_per_s"]
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"config {cfg.name}: {cfg.summary()}")
        print(f"{'program':<22}{'cycles':>12}{'hw_sim s':>11}{'RTL s':>9}  equal")
        for r in rows:
            eq = "yes" if r["hw_sim_cycles"] == r["rtl_cycles"] else "NO"
            print(f"{r['program']:<22}{r['hw_sim_cycles']:>12,}{r['hw_sim_s']:>11.4f}"
                  f"{r['rtl_s']:>9.3f}  {eq}")  # fmt: skip
        print(f"hw_sim {doc['hw_sim_cycles_per_s'] / 1e6:.1f} M cycles/s, RTL "
              f"{doc['rtl_cycles_per_s'] / 1e6:.2f} M cycles/s: hw_sim is "
              f"{doc['speedup']:.0f}x faster; cycles equal: {doc['cycles_equal']}")  # fmt: skip
    return 0 if doc["cycles_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
