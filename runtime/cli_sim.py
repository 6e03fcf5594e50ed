"""`vtac disasm`, `vtac sim` and `vtac demo`: inspect and simulate accelerator programs."""

from __future__ import annotations

import argparse
import json
import sys
import time

from hw_sim.config import HwConfig
from hw_sim.stats import MODULES, RunStats
from runtime.cli_args import (
    input_file,
    nonnegative_int,
    output_file,
    positive_int,
    positive_seconds,
    write_error,
)

_CLASS_TITLES = ("busy", "memory", "token/queue_full", "empty/idle")


def format_stats(stats: RunStats, cfg: HwConfig, wall_s: float | None = None) -> str:
    """The stats of a run as a human-readable table."""
    total = stats.total_cycles or 1
    lines = [
        f"total cycles      {stats.total_cycles:>12,}   "
        f"({stats.wall_time_us(cfg):,.1f} us at {cfg.CLOCK_MHZ:g} MHz)",
        "",
        f"{'module':<9}{'insns':>8}  " + "  ".join(f"{c:>19}" for c in _CLASS_TITLES),
    ]
    for m in MODULES:
        c = stats.modules[m]
        if m == "fetch":
            classes = (c["busy"], c["memory"], c["queue_full"], c["idle"])
        else:
            classes = (c["busy"], c["memory"], c["token"], c["empty"])
        cells = "  ".join(f"{v:>11,} {100 * v / total:>6.1f}%" for v in classes)
        lines.append(f"{m:<9}{c['insns']:>8}  {cells}")
    lines.append("")
    reads = ", ".join(f"{k} {v:,}" for k, v in stats.dram_bytes_read.items() if v)
    lines.append(f"DRAM bytes read   {sum(stats.dram_bytes_read.values()):>12,}   ({reads or '-'})")
    lines.append(f"DRAM bytes written{stats.dram_bytes_written:>12,}")
    acc = stats.vta_profiler(cfg)["acc_load_nbytes"]
    if acc != stats.dram_bytes_read["ACC"] + stats.dram_bytes_read["ACC_8BIT"]:
        lines.append(f"  (VTA fsim's acc_load_nbytes {acc:,}: ACC_8BIT counted in ACC elements)")
    lines.append(f"GEMM micro-ops    {stats.gemm_uops:>12,}")
    lines.append(f"ALU micro-ops     {stats.alu_uops:>12,}")
    lines.append(
        f"utilization       {100 * stats.utilization():>11.1f}%   (GEMM micro-op cycles / total)"
    )
    lines.append(f"achieved GOPS     {stats.gops(cfg):>12.2f}   (peak {cfg.peak_gops:.1f})")
    left = {k: v for k, v in stats.tokens_left.items() if v}
    if left:
        lines.append(f"tokens left over  {left}")
    if wall_s is not None:
        lines.append(
            f"simulated in {wall_s * 1e3:.1f} ms "
            f"({stats.total_cycles / max(wall_s, 1e-9) / 1e6:.1f} M cycles/s)"
        )
    return "\n".join(lines)


def load_program(path: str):
    """The program in `path`, or None after printing the format error (naming the file's
    fault) to stderr. Shared by `vtac sim` and `vtac rtl`."""
    from hw_sim.program import Program, ProgramFormatError

    try:
        return Program.load(path)
    except ProgramFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def cmd_disasm(args: argparse.Namespace) -> int:
    from hw_sim.disasm import listing

    prog = load_program(args.file)
    if prog is None:
        return 1
    print(f"# {args.file}: {len(prog.insns)} instructions, config {prog.cfg.summary()}")
    for b in prog.buffers.values():
        print(f"# buffer {b.name}: offset {b.offset:#x}, {b.shape} {b.dtype}")
    print(listing(prog.insns))
    return 0


def _simulate(prog, args) -> tuple[object, float] | None:
    from hw_sim.errors import SimError
    from hw_sim.simulator import simulate

    t0 = time.perf_counter()
    try:
        sem = getattr(args, "out_semantics", "chisel")
        result = simulate(prog, max_cycles=args.max_cycles, timeout=args.timeout,
                          check_races=args.check_races or None, out_semantics=sem)  # fmt: skip
    except SimError as e:
        print(f"simulation failed: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    return result, time.perf_counter() - t0


def _write_trace(result, args) -> int:
    """Write `--trace` (after the stats are printed: a failed write loses nothing else)."""
    if not args.trace:
        return 0
    from hw_sim.trace import write_trace

    try:
        write_trace(result, args.trace)
    except OSError as e:
        return write_error(args.trace, e)
    print(f"trace written to {args.trace} (open in https://ui.perfetto.dev)", file=sys.stderr)
    return 0


def _report(result, cfg: HwConfig, wall: float, as_json: bool, extra: dict | None = None) -> None:
    stats = result.stats
    if as_json:
        doc = stats.counters() | {
            "vta_profiler": stats.vta_profiler(cfg),  # VTA fsim's counter definitions
            "utilization": stats.utilization(),
            "gops": stats.gops(cfg),
            "wall_s": wall,
        }
        print(json.dumps(doc | (extra or {}), indent=2))
    else:
        print(format_stats(stats, cfg, wall))


def cmd_sim(args: argparse.Namespace) -> int:
    prog = load_program(args.file)
    if prog is None:
        return 1
    if args.portable:
        from hw_sim.portability import check_portable

        report = check_portable(prog, max_cycles=args.max_cycles)
        print(report.summary())
        return 0 if report.portable else 1
    out = _simulate(prog, args)
    if out is None:
        return 1
    _report(out[0], prog.cfg, out[1], args.json)
    return _write_trace(out[0], args)


def cmd_demo(args: argparse.Namespace) -> int:
    gemm_flags = (args.vt, args.n, args.block, args.save)
    if not args.gemm and all(f is None for f in gemm_flags):  # the blocked-GEMM flags imply it
        from runtime.cli_model import model_demo

        return model_demo(args)
    args.vt, args.n, args.block = args.vt or 2, args.n or 256, args.block or 64
    import numpy as np

    from hw_sim.config import ConfigError, load_config
    from hw_sim.examples import blocked_gemm

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        prog, expected = blocked_gemm(cfg, np.random.default_rng(args.seed), n=args.n,
                                      block=args.block, virtual_threads=args.vt)  # fmt: skip
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.save:
        try:
            prog.save(args.save)
        except OSError as e:
            return write_error(args.save, e)
        print(f"program saved to {args.save}", file=sys.stderr)
    out = _simulate(prog, args)
    if out is None:
        return 1
    result, wall = out
    bad = [
        k for k, v in expected.items() if not np.array_equal(prog.read_buffer(result.dram, k), v)
    ]
    if not args.json:
        print(f"blocked GEMM {args.n}x{args.n} (blocks of {args.block}), {args.vt} virtual "
              f"thread(s), {len(prog.insns)} instructions, config {cfg.summary()}")  # fmt: skip
        print("result vs NumPy: " + ("MISMATCH in " + ", ".join(bad) if bad else "bit-exact"))
        print()
    _report(result, cfg, wall, args.json, {"matches_numpy": not bad})
    status = _write_trace(result, args)
    return 1 if bad else status


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("disasm", help="print the instruction listing of a program file")
    p.add_argument("file", type=input_file, help="a .vtaprog program")
    p.set_defaults(func=cmd_disasm)

    def sim_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--trace", metavar="FILE", type=output_file,
                       help="write a Chrome/Perfetto trace (JSON)")  # fmt: skip
        p.add_argument("--json", action="store_true", help="print the stats as JSON")
        p.add_argument("--max-cycles", type=positive_int, default=None, metavar="N",
                       help="cycle watchdog (default 1e9)")  # fmt: skip
        p.add_argument("--timeout", type=positive_seconds, default=None, metavar="SECONDS",
                       help="wall-clock limit of the simulation (default: none)")  # fmt: skip
        p.add_argument("--check-races", action="store_true",
                       help="fail on unordered SRAM accesses of two modules")  # fmt: skip

    p = subparsers.add_parser("sim", help="simulate a program file and print its stats")
    p.add_argument("file", type=input_file, help="a .vtaprog program")
    sim_options(p)
    p.add_argument(
        "--out-semantics",
        choices=("chisel", "hls", "fsim"),
        default="chisel",
        help="OUT buffer of which VTA implementation (default chisel, as the RTL)",
    )
    p.add_argument(
        "--portable",
        action="store_true",
        help="run under all three OUT semantics and in VTA fsim's order, check the portability "
        "rules, name the first divergence (exit status 1 if not portable)",
    )
    p.set_defaults(func=cmd_sim)

    p = subparsers.add_parser(
        "demo",
        help="compile the built-in ResNet-18, co-run it on hw_sim, print the per-layer profile",
        description="Compile the built-in ResNet-18 (random weights), run it on hw_sim with its "
        "CPU part on LLVM kernels, check it bit-exactly and print the per-layer profile. "
        "--gemm (or any of --vt, --n, --block, --save) runs the hand-written blocked-GEMM program "
        "instead.",
    )
    p.add_argument("--gemm", action="store_true", help="the blocked-GEMM program instead")
    p.add_argument("--image", type=positive_int, default=224, help="ResNet-18 image size")
    p.add_argument("--fuse-accel", action="store_true", help="merge accelerator launches")
    p.add_argument("--plot", metavar="FILE.png", type=output_file, help="per-layer bar chart")
    p.add_argument("--top", type=positive_int, default=15, metavar="N", help="table rows")
    p.add_argument("--save-model", metavar="FILE", type=output_file, help="keep the artifact")
    p.add_argument("--config", default="default", help="hardware config name or JSON path")
    p.add_argument("--vt", type=int, choices=(1, 2), default=None,
                   help="--gemm: virtual threads (1 or 2, default 2)")  # fmt: skip
    p.add_argument("--n", type=positive_int, default=None,
                   help="--gemm: matrix size, a multiple of --block (default 256)")  # fmt: skip
    p.add_argument("--block", type=positive_int, default=None,
                   help="--gemm: tile size, a multiple of BLOCK (default 64)")  # fmt: skip
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random data seed")
    p.add_argument("--save", metavar="FILE", type=output_file,
                   help="also save the program (.vtaprog)")  # fmt: skip
    sim_options(p)
    p.set_defaults(func=cmd_demo)
