"""`vtac rtl ...`: run programs on the Verilated RTL, cross-check it against `hw_sim`, lint,
build and synthesize it.

    vtac rtl run FILE                 run a .vtaprog on the RTL, print its stats
    vtac rtl crosscheck FILE          run on hw_sim and RTL; name the first divergence
    vtac rtl crosscheck --example NAME | --random N [--seed S] [--config C]
    vtac rtl build | lint [--config C]
    vtac rtl synth [--config C] [--top MODULE] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from runtime.cli_args import input_file, nonnegative_int, positive_int, positive_seconds


def _config(name: str):
    from hw_sim.config import ConfigError, load_config

    try:
        return load_config(name)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    from hw_sim.errors import SimError
    from runtime.cli_sim import format_stats, load_program
    from runtime.rtl_build import RtlBuildError
    from runtime.rtl_device import run_rtl

    prog = load_program(args.file)
    if prog is None:
        return 1
    dram = prog.dram.copy()
    t0 = time.perf_counter()
    try:
        stats, _ = run_rtl(prog, dram, max_cycles=args.max_cycles, timeout=args.timeout)
    except (SimError, RtlBuildError) as e:
        print(f"RTL run failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps(stats.counters() | {"wall_s": wall}, indent=2))
    else:
        print(format_stats(stats, prog.cfg, wall))
    return 0


def _programs(args: argparse.Namespace):
    """(label, Program) pairs selected by the crosscheck arguments."""
    import numpy as np

    from runtime.cli_sim import load_program

    if args.file:
        prog = load_program(args.file)
        if prog is not None:
            yield args.file, prog
        return
    cfg = _config(args.config)
    if cfg is None:
        return
    if args.example:
        from hw_sim.examples import EXAMPLES

        names = list(EXAMPLES) if args.example == "all" else [args.example]
        for name in names:
            if name not in EXAMPLES:
                print(
                    f"error: no example {name!r}; examples: {', '.join(EXAMPLES)}", file=sys.stderr
                )
                return
            yield name, EXAMPLES[name](cfg, np.random.default_rng(args.seed))[0]
        return
    from hw_sim.random_programs import random_program

    for seed in range(args.seed, args.seed + args.random):
        yield f"random seed {seed}", random_program(cfg, seed)


def cmd_crosscheck(args: argparse.Namespace) -> int:
    from runtime.rtl_build import RtlBuildError
    from runtime.rtl_crosscheck import crosscheck

    if sum(bool(x) for x in (args.file, args.example, args.random)) != 1:
        print("error: give one of FILE, --example NAME or --random N", file=sys.stderr)
        return 2
    from tqdm import tqdm

    n = bad = 0
    programs = list(_programs(args))
    # a bar on a terminal for sweeps (`--random 500` runs for minutes); results print above it
    for label, prog in tqdm(programs, desc="crosscheck", disable=None if len(programs) > 1
                            else True, leave=False):  # fmt: skip
        try:
            res = crosscheck(prog, max_cycles=args.max_cycles, timeout=args.timeout)
        except RtlBuildError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        n += 1
        if not res.ok:
            bad += 1
            print(f"{label}: {res.report()}")
        elif args.verbose or args.file:
            print(f"{label}: {res.report()}")
    if n == 0:
        return 1
    if n > 1 or not args.file:
        print(
            f"{n - bad} of {n} programs agree "
            "(DRAM, total cycles, counters, per-instruction timing)"
        )
    return 1 if bad else 0


def cmd_build(args: argparse.Namespace) -> int:
    from runtime.rtl_build import RtlBuildError, build

    cfg = _config(args.config)
    if cfg is None:
        return 1
    try:
        print(build(cfg, quiet=False))
    except RtlBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from runtime.rtl_build import lint

    cfg = _config(args.config)
    if cfg is None:
        return 1
    out = lint(cfg)
    print(out or f"verilator --lint-only -Wall: clean (config {cfg.name})")
    return 1 if out else 0


def cmd_synth(args: argparse.Namespace) -> int:
    from runtime.rtl_synth import SynthError, format_report, synthesize

    cfg = _config(args.config)
    if cfg is None:
        return 1
    try:
        report = synthesize(cfg, timeout_s=args.timeout, top=args.top)
    except SynthError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    rtl = subparsers.add_parser("rtl", help="the Verilated RTL: run, cross-check, lint, synthesize")
    sub = rtl.add_subparsers(dest="rtl_command", metavar="RTL_COMMAND")
    rtl.set_defaults(func=lambda a: (rtl.print_help(), 2)[1])

    def limits(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-cycles", type=positive_int, default=None, metavar="N",
                       help="cycle watchdog (default: scaled to the program)")  # fmt: skip
        p.add_argument("--timeout", type=positive_seconds, default=None, metavar="SECONDS",
                       help="wall-clock limit per run (default: from the watchdog)")  # fmt: skip

    p = sub.add_parser("run", help="run a .vtaprog on the RTL and print its stats")
    p.add_argument("file", type=input_file, help="a .vtaprog program")
    p.add_argument("--json", action="store_true", help="print the counters as JSON")
    limits(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "crosscheck",
        help="run programs on hw_sim and the RTL; name the first instruction that diverges",
    )
    p.add_argument("file", nargs="?", type=input_file, help="a .vtaprog program")
    p.add_argument("--example", metavar="NAME", help="a hw_sim example program (or 'all')")
    p.add_argument("--random", type=positive_int, default=0, metavar="N", help="N random programs")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="first random seed / example data seed")  # fmt: skip
    p.add_argument("--config", default="default", help="hardware config for --example/--random")
    limits(p)
    p.add_argument("-v", "--verbose", action="store_true", help="report agreeing programs too")
    p.set_defaults(func=cmd_crosscheck)

    for name, func, text in (
        ("build", cmd_build, "build (or find in the cache) the Verilated simulator"),
        ("lint", cmd_lint, "verilator --lint-only -Wall on the RTL"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", default="default", help="hardware config name or JSON path")
        p.set_defaults(func=func)

    p = sub.add_parser("synth", help="Yosys FPGA synthesis: LUTs, FFs, DSPs, BRAMs per module")
    p.add_argument("--config", default="small", help="hardware config (default: small)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--timeout", type=positive_seconds, default=1800,
                   help="seconds before giving up")  # fmt: skip
    p.add_argument(
        "--top",
        default="vta_top",
        metavar="MODULE",
        help="synthesize only this module (vta_fetch, vta_load, vta_compute, vta_store) "
        "and its submodules; default: the whole vta_top",
    )
    p.set_defaults(func=cmd_synth)
