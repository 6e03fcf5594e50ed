"""Benchmark: simulated cycles per second of `hw_sim` vs the Verilated RTL, in one run.

    python scripts/bench_rtl.py [--config default] [--programs blocked_gemm|examples] [--json]

Both devices run the same programs (by default the blocked-GEMM program, 256x256 in 64-blocks,
with 1 and 2 virtual threads). The RTL time is the whole device run (writing the program files,
the Verilated simulation, reading the results); the build is cached and done before timing.
Each measurement is the best of `--repeat` runs. With `--json` the figures are one JSON object
with at least `hw_sim_cycles_per_s`, `rtl_cycles_per_s`, `speedup` (hw_sim / RTL) and
`cycles_equal` (every program's total cycles matched).

A device run has a fixed cost (the RTL: starting the harness process and writing/reading the
program and DRAM files, 76-102 ms, a large share of a 0.2 M-cycle program): it is measured
apart on a FINISH-only program (`*_fixed_s`), and the steady-state rates (`*_steady_cycles_per_s`,
`steady_speedup`) come from a larger blocked GEMM (`--steady-n`, default 512: ~1 M cycles) with
the fixed cost subtracted.
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


def _finish_only(cfg):
    from hw_sim.builder import ProgramBuilder

    b = ProgramBuilder(cfg)
    b.buffer("x", shape=(1,), dtype="int8")
    b.finish()
    return b.build()


def _fixed_and_steady(cfg, n: int, repeat: int) -> dict:
    """Fixed cost per run (FINISH only) and steady-state rate (a large GEMM, minus that cost)."""
    tiny = _finish_only(cfg)
    big = blocked_gemm(cfg, np.random.default_rng(1), n=n, virtual_threads=2)[0]
    hw_fixed, _ = _best(lambda: simulate(tiny), repeat)
    rtl_fixed, _ = _best(lambda: run_rtl(tiny, tiny.dram.copy()), repeat)
    hw_big, res = _best(lambda: simulate(big), repeat)
    rtl_big, (stats, _) = _best(lambda: run_rtl(big, big.dram.copy()), repeat)
    cycles = res.stats.total_cycles
    doc = {
        "steady_program": f"blocked_gemm n={n} vt2",
        "steady_cycles": cycles,
        "steady_cycles_equal": cycles == stats.total_cycles,
        "hw_sim_fixed_s": hw_fixed,
        "rtl_fixed_s": rtl_fixed,
        "hw_sim_steady_cycles_per_s": cycles / max(hw_big - hw_fixed, 1e-9),
        "rtl_steady_cycles_per_s": cycles / max(rtl_big - rtl_fixed, 1e-9),
    }
    doc["steady_speedup"] = doc["hw_sim_steady_cycles_per_s"] / doc["rtl_steady_cycles_per_s"]
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--programs", choices=("blocked_gemm", "examples"), default="blocked_gemm")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--steady-n", type=int, default=512, help="matrix size of the steady-state "
                    "GEMM (0: skip the fixed-cost / steady-state measurement)")  # fmt: skip
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
    if args.steady_n:
        doc |= _fixed_and_steady(cfg, args.steady_n, args.repeat)
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
        if args.steady_n:
            print(f"fixed cost per run: hw_sim {doc['hw_sim_fixed_s'] * 1e3:.1f} ms, RTL "
                  f"{doc['rtl_fixed_s'] * 1e3:.1f} ms; steady state ({doc['steady_program']}, "
                  f"{doc['steady_cycles']:,} cycles): hw_sim "
                  f"{doc['hw_sim_steady_cycles_per_s'] / 1e6:.1f} M cycles/s, RTL "
                  f"{doc['rtl_steady_cycles_per_s'] / 1e6:.2f} M cycles/s: "
                  f"{doc['steady_speedup']:.0f}x")  # fmt: skip
    ok = doc["cycles_equal"] and doc.get("steady_cycles_equal", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
