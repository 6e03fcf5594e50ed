"""The Verilated RTL as a device: same interface as `HwSimDevice`, so any program runs on the
RTL by changing the device name (`get_device("rtl", cfg)`).

Each run writes the instructions and the DRAM image to a temporary directory, runs the cached
harness binary (`runtime.rtl_build.build`), and reads back the final DRAM, the counters
(`RunStats.counters()` form) and, on request, the per-instruction trace.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw_sim.config import HwConfig
from hw_sim.disasm import disasm, listing_line
from hw_sim.errors import (
    DeadlockError,
    NoFinishError,
    PendingAtFinishError,
    SimError,
    WallClockTimeoutError,
    WatchdogError,
)
from hw_sim.isa import Module, encode_program, insn_module
from hw_sim.program import Program
from hw_sim.stats import FETCH_CLASSES, MODULE_CLASSES, MODULES, READ_TYPES, TOKEN_QUEUES, RunStats
from hw_sim.stream_checks import check_stream
from runtime.device import Device
from runtime.rtl_build import build

DEFAULT_MAX_CYCLES = 1_000_000_000  # hw_sim's; the RTL's default is scaled to the program
# The Verilated RTL simulates ~0.36 M cycles/s on the 2-core development machine; the harness's
# default wall-clock limit allows this many cycles per second (7x slower) plus a fixed minute.
RTL_MIN_CYCLES_PER_S = 50_000
RTL_FIXED_TIMEOUT_S = 60.0


def default_rtl_limits(program: Program, max_cycles: int | None, timeout: float | None):
    """(cycle watchdog, wall-clock seconds) of one RTL run.

    Without `max_cycles`: twice `hw_sim.simulator.cycle_bound` (+10,000), at most hw_sim's 10**9:
    no run that does not deadlock can take longer, and a runaway stops in seconds instead of the
    45 minutes 10**9 cycles would take. Without `timeout`: a minute plus the cycle limit at
    `RTL_MIN_CYCLES_PER_S`."""
    from hw_sim.simulator import cycle_bound

    if max_cycles is None:
        limit = min(DEFAULT_MAX_CYCLES, 2 * cycle_bound(program) + 10_000)
    else:
        limit = int(max_cycles)
    if timeout is None:
        timeout = RTL_FIXED_TIMEOUT_S + limit / RTL_MIN_CYCLES_PER_S
    return limit, float(timeout)


class RtlRunError(SimError):
    """The RTL harness failed (bad memory access, crash); the message holds its output."""


@dataclass
class RtlSchedule:
    """Per-instruction cycles observed in the RTL (index = instruction index; -1 = never)."""

    module: list[int]
    dispatch: list[int]
    start: list[int]
    end: list[int]


def stats_from_counters(total: int, c: dict[str, int]) -> RunStats:
    """Map the harness's flat counter names (runtime/rtl_params.COUNTER_NAMES) to RunStats."""
    st = RunStats(total_cycles=total)
    for m in MODULES:
        classes = FETCH_CLASSES if m == "fetch" else MODULE_CLASSES
        st.modules[m] = {k: int(c[f"{m}.{k}"]) for k in classes} | {"insns": int(c[f"{m}.insns"])}
    st.dram_bytes_read = {t: int(c[f"read.{t}"]) for t in READ_TYPES}
    st.dram_bytes_written = int(c["written"])
    st.gemm_uops = int(c["gemm_uops"])
    st.alu_uops = int(c["alu_uops"])
    st.tokens_left = {t: int(c[f"tokens.{t}"]) for t in TOKEN_QUEUES}
    return st


def parse_trace(text: str, program: Program) -> RtlSchedule:
    """Turn the harness's event lines into per-instruction cycles of `program`."""
    mods = [int(insn_module(i)) for i in program.insns]
    n = len(mods)
    sched = RtlSchedule(mods, [-1] * n, [-1] * n, [-1] * n)
    by_module: dict[int, list[int]] = {int(m): [] for m in Module if m != Module.FETCH}
    for idx, m in enumerate(mods):
        by_module[m].append(idx)
    nxt_start = dict.fromkeys(by_module, 0)
    nxt_end = dict.fromkeys(by_module, 0)
    nxt_disp = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "D":
            if nxt_disp < n:
                sched.dispatch[nxt_disp] = int(parts[1])
            nxt_disp += 1
            continue
        m = int(parts[1]) + 1  # harness: 0 load, 1 compute, 2 store
        lst = by_module[m]
        if parts[0] == "S":
            if nxt_start[m] < len(lst):
                sched.start[lst[nxt_start[m]]] = int(parts[2])
            nxt_start[m] += 1
        else:
            if nxt_end[m] < len(lst):
                sched.end[lst[nxt_end[m]]] = int(parts[2])
            nxt_end[m] += 1
    return sched


def run_rtl(
    program: Program,
    dram: np.ndarray,
    max_cycles: int | None = None,
    trace: bool = False,
    timeout: float | None = None,
) -> tuple[RunStats, RtlSchedule | None]:
    """Run `program` on the RTL with DRAM image `dram` (uint8, updated in place).

    `max_cycles` / `timeout` default to `default_rtl_limits`; exceeding them raises
    `WatchdogError` / `WallClockTimeoutError`, as on hw_sim."""
    check_stream(program, dram)  # the faults the RTL does not check itself (docs/rtl.md)
    binary = build(program.cfg)
    limit, timeout = default_rtl_limits(program, max_cycles, timeout)
    with tempfile.TemporaryDirectory(prefix="vtac_rtl_") as d:
        tmp = Path(d)
        encode_program(program.insns, program.cfg).astype("<u8").tofile(tmp / "insns.bin")
        np.ascontiguousarray(dram, dtype=np.uint8).tofile(tmp / "dram.bin")
        cmd = [
            str(binary),
            "--insns",
            str(tmp / "insns.bin"),
            "--dram",
            str(tmp / "dram.bin"),
            "--out-dram",
            str(tmp / "out.bin"),
            "--counters",
            str(tmp / "counters.json"),
            "--max-cycles",
            str(limit),
        ]
        cmd += ["--trace", str(tmp / "trace.txt")]  # always: the fault checks below read it
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WallClockTimeoutError(
                f"timeout: the wall-clock limit of {timeout:g} s (timeout) passed while the RTL "
                f"ran (cycle watchdog {limit}); the harness was stopped",
                seconds=timeout,
                index=None,
                cycle=None,
            ) from None
        if proc.returncode not in (0, 2, 3):
            raise RtlRunError(
                f"RTL harness failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        result = json.loads((tmp / "counters.json").read_text())
        if proc.returncode == 2:
            raise WatchdogError(
                f"watchdog: the RTL ran {limit} cycles without executing FINISH "
                "(a deadlock, or raise max_cycles)",
                cycle=limit,
                index=None,
            )
        sched = parse_trace((tmp / "trace.txt").read_text(), program)
        total = int(result["total_cycles"])
        if proc.returncode == 3:
            check_token_overflow(program, sched)  # a saturated counter explains a deadlock
            raise _deadlock(program, result)
        check_pending_at_finish(program, sched, total)
        check_token_overflow(program, sched)
        dram[...] = np.fromfile(tmp / "out.bin", dtype=np.uint8)
        stats = stats_from_counters(total, result["counters"])
    return stats, (sched if trace else None)


def check_pending_at_finish(program: Program, sched: RtlSchedule, total: int) -> None:
    """hw_sim's PendingAtFinishError: FINISH ended the run while instructions had not ended."""
    pending = [i for i, e in enumerate(sched.end) if e < 0 or e > total]
    if not pending:
        return
    lines = []
    for i in pending[:10]:
        started = sched.start[i] >= 0
        state = "still running" if started else "not started"
        lines.append(f"  {listing_line(i, program.insns[i])}  -- {state}")
    more = f"\n  ... and {len(pending) - 10} more" if len(pending) > 10 else ""
    raise PendingAtFinishError(
        f"FINISH ended the RTL run at cycle {total} with {len(pending)} instruction(s) "
        "pending:\n" + "\n".join(lines) + more,
        pending,
    )


def check_token_overflow(program: Program, sched: RtlSchedule) -> None:
    """hw_sim's TokenOverflowError from the RTL's own start/end cycles: its 8-bit counters
    cannot hold more than 255 outstanding tokens (the hardware would lose them)."""
    from types import SimpleNamespace

    from hw_sim.simulator import Simulator, _prepared

    prep = _prepared(program)
    lat = program.cfg.TOKEN_LATENCY
    push_avail: list[list[int]] = [[] for _ in TOKEN_QUEUES]
    pop_times: list[list[int]] = [[] for _ in TOKEN_QUEUES]
    push_src: list[list[int]] = [[] for _ in TOKEN_QUEUES]
    for i in sorted(range(len(program.insns)), key=lambda k: sched.start[k]):
        if sched.start[i] < 0:
            continue
        for c in prep.pops[i]:
            pop_times[c].append(sched.start[i])
        if sched.end[i] >= 0:
            for c in prep.pushes[i]:
                push_avail[c].append(sched.end[i] + lat)
                push_src[c].append(i)
    for c in range(len(TOKEN_QUEUES)):  # per counter, in time order (as hw_sim records them)
        order = sorted(range(len(push_avail[c])), key=push_avail[c].__getitem__)
        push_avail[c] = [push_avail[c][k] for k in order]
        push_src[c] = [push_src[c][k] for k in order]
        pop_times[c].sort()
    checker = SimpleNamespace(cfg=program.cfg, insns=program.insns)  # the method reads these
    Simulator._check_token_overflow(checker, push_avail, pop_times, push_src)


def _deadlock(program: Program, result: dict) -> DeadlockError | NoFinishError:
    """Name the instruction each module is stuck on (from its executed-instruction count)."""
    c = result["counters"]
    mods = [insn_module(i) for i in program.insns]
    blocked = {}
    for m in (Module.LOAD, Module.COMPUTE, Module.STORE):
        name = m.name.lower()
        mine = [i for i, mm in enumerate(mods) if mm == m]
        done = int(c[f"{name}.insns"])
        if done < len(mine):
            k = mine[done]
            blocked[name] = f"instruction {k} ({disasm(program.insns[k])}) waits for a token"
        else:
            blocked[name] = "idle: all its instructions ran"
    dispatched = int(c["fetch.busy"])
    if dispatched < len(program.insns):
        k = dispatched
        blocked["fetch"] = (
            f"instruction {k} ({disasm(program.insns[k])}) cannot be dispatched: its queue is full"
        )
    tokens = {t: int(c[f"tokens.{t}"]) for t in TOKEN_QUEUES}
    if dispatched >= len(program.insns) and all(v.startswith("idle") for v in blocked.values()):
        return NoFinishError(
            f"all {len(program.insns)} instructions ran on the RTL (by cycle "
            f"{result['total_cycles']}) but none was FINISH: the run never ends"
        )
    lines = [f"{m}: {why}" for m, why in blocked.items()]
    msg = (
        f"deadlock in the RTL at cycle {result['total_cycles']}: no module can progress and "
        "FINISH has not run\n  "
        + "\n  ".join(lines)
        + "\ntokens (pushed, not popped): "
        + ", ".join(f"{k}={v}" for k, v in tokens.items())
    )
    return DeadlockError(msg, blocked, tokens)


class RtlDevice(Device):
    """The accelerator's Verilog under Verilator (built and cached per hardware config)."""

    name = "rtl"

    def __init__(self, cfg: HwConfig):
        super().__init__(cfg)
        self.trace = False
        self.last_schedule: RtlSchedule | None = None

    def _execute(
        self, program: Program, dram: np.ndarray, max_cycles: int | None, timeout: float | None
    ) -> RunStats:
        stats, self.last_schedule = run_rtl(program, dram, max_cycles, trace=True, timeout=timeout)
        return stats

    def _start_cycles(self) -> list[int]:
        return self.last_schedule.start
