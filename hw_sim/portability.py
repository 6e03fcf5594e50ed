"""Is a program portable across VTA's implementations? Run it under all three, check the rules.

    report = check_portable(program)          # or check_portable(program, cfg, dram=image)
    report.portable                           # identical DRAM under chisel/hls/fsim, no rule broken
    print(report.summary())

Two checks, both needed:
* dynamic: `hw_sim` runs the program under each OUT-buffer semantics (`functional.OUT_SEMANTICS`;
  the timing is the same under all three), and the functional core replays it once more as
  VTA's functional simulator schedules it (`fsim-order`: fsim semantics, each module run until
  its head waits for a token — so compute runs ahead of the store as far as tokens allow,
  which is how fsim stored zeros where hw_sim's timing happened to store first); the final
  DRAMs are compared and the first STORE whose bytes differ is named with its OUT rows, the
  DRAM buffer it writes and the lanes each run stored;
* static (`hw_sim.hazards.check_rules`): the rules of the reference that no single run can
  show — races that this timing happens to order but fsim's scheduler or another
  implementation's timing may not, a stored row whose value coincides by chance, micro-op
  write-after-write distances, tokens at FINISH, index ranges, the portable ALU subset.

`vtac sim --portable FILE` prints the summary; the test suite calls `check_portable` on every
compiled kernel and example program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_sim import functional
from hw_sim.blas import single_threaded_blas
from hw_sim.config import HwConfig
from hw_sim.disasm import disasm
from hw_sim.errors import SimError, SramRangeError
from hw_sim.functional import OUT_SEMANTICS
from hw_sim.hazards import RULES, Violation, check_rules, happens_before
from hw_sim.isa import FinishInsn, MemType
from hw_sim.program import Program, mem_elem_bytes
from hw_sim.simulator import Simulator
from hw_sim.stats import RunStats


@dataclass
class Divergence:
    """The first STORE whose stored bytes depend on the OUT semantics."""

    store: int  # instruction index
    listing: str
    rows: tuple[int, ...]  # OUT/ACC rows whose bytes differ
    buffer: str  # DRAM buffer (name + element offset) the STORE writes
    lanes: dict[str, list[int]]  # semantics -> int8 lanes of the first differing row

    def text(self) -> str:
        rows = list(self.rows)
        shown = ", ".join(map(str, rows[:8])) + (
            f", ... ({len(rows)} rows)" if len(rows) > 8 else ""
        )
        lanes = "; ".join(f"{s}: {v}" for s, v in self.lanes.items())
        return (
            f"instruction {self.store} ({self.listing}) stores OUT rows {shown} into "
            f"{self.buffer} differently; row {rows[0]} lanes: {lanes}"
        )


@dataclass
class PortabilityReport:
    """What `check_portable` found. `portable` = the three final DRAMs are identical, every
    run finished, and no rule of `hazards.RULES` is broken."""

    portable: bool
    dram_equal: bool
    cycles: int  # total cycles (the same under every semantics); 0 if a run failed
    stats: RunStats | None  # of the chisel run
    divergence: Divergence | None
    violations: list[Violation]  # kept violations (at most hazards.MAX_PER_RULE per rule)
    counts: dict[str, int]  # violations per rule
    errors: dict[str, str] = field(default_factory=dict)  # semantics -> failure of its run
    insns: list = field(default_factory=list, repr=False)

    def summary(self) -> str:
        lines = [
            "portable: " + ("yes" if self.portable else "NO")
            + (f" ({self.cycles:,} cycles under each of {', '.join(OUT_SEMANTICS)})"
               if self.cycles else "")
        ]  # fmt: skip
        for s, e in self.errors.items():
            lines.append(f"run under {s} failed: {e}")
        if not self.errors:
            lines.append(
                "final DRAM: identical under " + ", ".join(RUNS)
                if self.dram_equal
                else "final DRAM differs between runs"
            )
        if self.divergence is not None:
            lines.append("first divergence: " + self.divergence.text())
        broken = {r: n for r, n in self.counts.items() if n}
        for rule, n in broken.items():
            lines.append(f"rule {rule} broken {n} time(s): {RULES[rule]}")
            for v in [v for v in self.violations if v.rule == rule][:3]:
                lines.append("  " + v.text(self.insns))
        if not broken:
            lines.append(f"rules: all {len(RULES)} hold ({', '.join(RULES)})")
        return "\n".join(lines)


def _buffer_at(program: Program, byte: int) -> str:
    for b in program.buffers.values():
        if b.offset <= byte < b.offset + b.nbytes:
            return f"buffer {b.name!r} at byte {byte - b.offset}"
    return f"DRAM byte {byte}"


def _first_divergence(program: Program, logs: dict[str, list]) -> Divergence | None:
    eb = mem_elem_bytes(program.cfg, MemType.OUT)
    ref = logs[RUNS[0]]
    for k, (index, _) in enumerate(ref):
        rows_of = {s: logs[s][k][1].reshape(-1, eb) for s in RUNS}
        base = rows_of[RUNS[0]]
        diff = np.zeros(len(base), bool)
        for s in RUNS[1:]:
            diff |= (rows_of[s] != base).any(axis=1)
        if diff.any():
            insn = program.insns[index]
            rows = tuple(int(insn.sram_base + r) for r in np.flatnonzero(diff))
            first = int(np.flatnonzero(diff)[0])
            lanes = {s: rows_of[s][first].view(np.int8).tolist() for s in RUNS}
            return Divergence(
                index, disasm(insn), rows, _buffer_at(program, insn.dram_base * eb), lanes
            )
    return None


RUNS = (*OUT_SEMANTICS, "fsim-order")  # the three timed runs and VTA fsim's scheduling order


def _replay(program: Program, dram: np.ndarray, order: list[int]) -> tuple[np.ndarray, list]:
    """Data work of `program` in `order` (VTA fsim's scheduler), fsim semantics, to FINISH."""
    st = functional.SramState(program.cfg, "fsim")
    st.store_log = []
    for i in order:
        insn = program.insns[i]
        functional.execute(st, dram, insn, functional.Where(i, insn))
        if isinstance(insn, FinishInsn):
            break
    return dram, st.store_log


def check_portable(
    program: Program,
    cfg: HwConfig | None = None,
    dram: np.ndarray | None = None,
    max_cycles: int | None = None,
) -> PortabilityReport:
    """Run `program` (on `dram`, default its own image; not modified) under the three OUT
    semantics and in fsim's order, and check the portability rules. `cfg`, if given, must be
    the program's config."""
    if cfg is not None and cfg.fingerprint != program.cfg.fingerprint:
        raise ValueError(
            f"program built for config {program.cfg.name!r}, checked against {cfg.name!r}"
        )
    image = program.dram if dram is None else np.asarray(dram, np.uint8)
    hb = happens_before(program.insns)
    violations, counts = check_rules(program, hb, image)
    finals, logs, errors = {}, {}, {}
    stats, cycles = None, set()
    with single_threaded_blas():
        for run in RUNS:
            try:
                if run == "fsim-order":
                    finals[run], logs[run] = _replay(program, image.copy(), hb.order)
                    continue
                sim = Simulator(program, image.copy(), max_cycles, out_semantics=run)
                sim.sram.store_log = []
                res = sim.run()
            except SimError as e:
                errors[run] = f"{type(e).__name__}: {e}"
                if isinstance(e, SramRangeError) and not counts["sram-range"]:
                    counts["sram-range"] += 1
                    violations.append(Violation("sram-range", e.index, str(e)))
                continue
            finals[run], logs[run] = res.dram, sim.sram.store_log
            cycles.add(res.stats.total_cycles)
            stats = stats or res.stats
    ok = not errors and len({len(log) for log in logs.values()}) == 1
    equal = ok and all(np.array_equal(finals[r], finals[RUNS[0]]) for r in RUNS)
    div = _first_divergence(program, logs) if ok else None
    return PortabilityReport(
        portable=equal and div is None and not any(counts.values()),
        dram_equal=equal,
        cycles=cycles.pop() if len(cycles) == 1 and not errors else 0,
        stats=stats,
        divergence=div,
        violations=violations,
        counts=counts,
        errors=errors,
        insns=program.insns,
    )
