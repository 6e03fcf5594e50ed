"""Benchmark of the hw_sim simulator's own speed (wall clock, this machine).

* blocked GEMM (VTA's hardware test: 256x256 int8, 64x64 tiles, 1 and 2 virtual threads) at the
  default config: simulated cycles per wall-clock second;
* a stream of many small instructions (5 per group: LOAD, GEMM reset, GEMM, ALU, STORE):
  instructions per second.

Each headline figure is the best (minimum) wall-clock time over `--repeat` runs of `simulate()`
alone (program assembly is not timed), as `timeit` reports: on a shared machine other jobs can
only add time. The median wall time and the median process CPU time are reported beside it.
`--json` prints one JSON object with `gemm_cycles_per_s` (the slower of the two thread counts),
`small_insn_per_s`, their CPU-time twins and the details.

Warm runs reuse the micro-op loop plans (cached across runs) and the program's prepared form and
stream check; *cold* runs (`*_cold_*`, best of `--repeat`) start from a freshly built program
and an empty plan cache, as the first run of a program does.

    python scripts/bench_hw_sim.py [--config default] [--repeat 21] [--groups 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hw_sim.config import load_config  # noqa: E402
from hw_sim.examples import blocked_gemm, small_insn_stream  # noqa: E402
from hw_sim.simulator import simulate  # noqa: E402


def _time(prog, repeat: int) -> tuple[float, float, float, object]:
    """Best and median wall-clock, and median process-CPU seconds of `simulate(prog)`."""
    simulate(prog)  # warm-up (imports, BLAS init)
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = simulate(prog)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), statistics.median(walls), statistics.median(cpus), result


def _time_cold(make, repeat: int) -> float:
    """Best wall-clock seconds of `simulate` on a fresh program with an empty plan cache."""
    from hw_sim import functional

    best = float("inf")
    for _ in range(repeat):
        prog = make()  # a new Program object: nothing cached on it
        functional._PLAN_CACHES.clear()
        t0 = time.perf_counter()
        simulate(prog)
        best = min(best, time.perf_counter() - t0)
    return best


def run(config: str, repeat: int, groups: int) -> dict:
    cfg = load_config(config)
    out: dict = {"config": cfg.name, "repeat": repeat, "loadavg_1min": os.getloadavg()[0]}
    rates, cpu_rates = [], []
    for vt in (1, 2):
        prog, expected = blocked_gemm(cfg, np.random.default_rng(0), virtual_threads=vt)
        wall, median, cpu, result = _time(prog, repeat)
        ok = np.array_equal(prog.read_buffer(result.dram, "C"), expected["C"])
        rate = result.stats.total_cycles / wall
        rates.append(rate)
        cpu_rates.append(result.stats.total_cycles / cpu)
        cold = _time_cold(
            lambda vt=vt: blocked_gemm(cfg, np.random.default_rng(0), virtual_threads=vt)[0],
            max(3, repeat // 3),
        )
        out[f"gemm_vt{vt}"] = {
            "cold_wall_s": cold,
            "cold_cycles_per_s": result.stats.total_cycles / cold,
            "insns": len(prog.insns),
            "cycles": result.stats.total_cycles,
            "utilization": round(result.stats.utilization(), 4),
            "wall_s": wall,
            "median_wall_s": median,
            "cycles_per_s": rate,
            "median_cycles_per_s": result.stats.total_cycles / median,
            "cpu_s": cpu,
            "cycles_per_cpu_s": cpu_rates[-1],
            "bit_exact": bool(ok),
        }
    out["gemm_cycles_per_s"] = min(rates)
    out["gemm_cold_cycles_per_s"] = min(out[f"gemm_vt{vt}"]["cold_cycles_per_s"] for vt in (1, 2))
    out["gemm_cycles_per_cpu_s"] = min(cpu_rates)
    prog, expected = small_insn_stream(cfg, np.random.default_rng(0), groups=groups)
    wall, median, cpu, result = _time(prog, repeat)
    out["small_insns"] = {
        "insns": len(prog.insns),
        "cycles": result.stats.total_cycles,
        "wall_s": wall,
        "median_wall_s": median,
        "median_insn_per_s": len(prog.insns) / median,
        "cpu_s": cpu,
        "bit_exact": bool(np.array_equal(prog.read_buffer(result.dram, "out"), expected["out"])),
    }
    cold = _time_cold(
        lambda: small_insn_stream(cfg, np.random.default_rng(0), groups=groups)[0],
        max(3, repeat // 3),
    )
    out["small_insns"]["cold_wall_s"] = cold
    out["small_insn_cold_per_s"] = len(prog.insns) / cold
    out["small_insn_per_s"] = len(prog.insns) / wall
    out["small_insn_per_cpu_s"] = len(prog.insns) / cpu
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--groups", type=int, default=2000, help="groups of 5 small instructions")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = run(args.config, args.repeat, args.groups)
    if args.json:
        print(json.dumps(res))
        return 0
    for vt in (1, 2):
        g = res[f"gemm_vt{vt}"]
        print(f"blocked GEMM vt{vt}: {g['cycles']:,} cycles, {g['insns']} insns, "
              f"{g['wall_s'] * 1e3:.1f} ms -> {g['cycles_per_s'] / 1e6:.1f} M cycles/s "
              f"[median {g['median_cycles_per_s'] / 1e6:.1f}, "
              f"CPU {g['cycles_per_cpu_s'] / 1e6:.1f}; cold {g['cold_cycles_per_s'] / 1e6:.1f}] "
              f"(utilization {g['utilization']:.1%}, bit-exact {g['bit_exact']})")  # fmt: skip
    s = res["small_insns"]
    print(f"small instructions: {s['insns']:,} insns, {s['wall_s'] * 1e3:.1f} ms -> "
          f"{res['small_insn_per_s']:,.0f} insns/s [median {s['median_insn_per_s']:,.0f}, "
          f"CPU {res['small_insn_per_cpu_s']:,.0f}; cold {res['small_insn_cold_per_s']:,.0f}] "
          f"(bit-exact {s['bit_exact']})")  # fmt: skip
    print(f"machine load average (1 min): {res['loadavg_1min']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
