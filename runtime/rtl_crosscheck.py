"""Run one program on `hw_sim` and on the RTL and point at the first place they diverge.

Comparison order (the first difference found is the one reported first):
1. timing: per-instruction dispatch, start and end cycles; the diverging instruction whose
   earliest differing event happens first in time is named, with both sides' cycles;
2. results: every named DRAM buffer, then the rest of DRAM; the first differing byte is named by
   buffer and element index, with the last STORE that wrote it;
3. counters: every `RunStats.counters()` entry that differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_sim.disasm import disasm
from hw_sim.errors import SimError
from hw_sim.isa import MemInsn, Opcode
from hw_sim.program import Program, mem_elem_bytes
from hw_sim.simulator import simulate
from runtime.rtl_device import run_rtl

_EVENTS = ("dispatch", "start", "end")


@dataclass
class CrossCheck:
    """Outcome of one cross-check. `ok` when DRAM, schedule and counters all agree."""

    hw_cycles: int = -1
    rtl_cycles: int = -1
    timing: str | None = None  # first timing divergence
    result: str | None = None  # first DRAM divergence
    counters: list[str] = field(default_factory=list)  # differing counters
    error: str | None = None  # a side failed to run
    rtl_dram: np.ndarray | None = field(default=None, repr=False)  # the RTL's final DRAM

    @property
    def ok(self) -> bool:
        return not (self.timing or self.result or self.counters or self.error)

    def report(self) -> str:
        if self.error:
            return f"cross-check failed to run: {self.error}"
        if self.ok:
            return (
                f"hw_sim and RTL agree: {self.hw_cycles:,} cycles, identical DRAM, "
                "identical counters and per-instruction timing"
            )
        lines = [
            f"hw_sim and RTL DIVERGE (cycles: hw_sim {self.hw_cycles:,}, RTL {self.rtl_cycles:,})"
        ]
        if self.timing:
            lines.append(f"timing:   {self.timing}")
        if self.result:
            lines.append(f"results:  {self.result}")
        for c in self.counters:
            lines.append(f"counter:  {c}")
        return "\n".join(lines)


def _flatten(d: dict, prefix: str = "") -> dict[str, int]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def first_timing_divergence(program: Program, hw_sched, rtl_sched) -> str | None:
    best = None
    for i in range(len(program.insns)):
        hw = [getattr(hw_sched, e)[i] for e in _EVENTS]
        rt = [getattr(rtl_sched, e)[i] for e in _EVENTS]
        if hw == rt:
            continue
        when = min(min(a, b) for a, b in zip(hw, rt, strict=True) if a != b)
        if best is None or when < best[0]:
            best = (when, i, hw, rt)
    if best is None:
        return None
    _, i, hw, rt = best
    parts = ", ".join(
        f"{e} hw_sim {a} / RTL {b}" for e, a, b in zip(_EVENTS, hw, rt, strict=True) if a != b
    )
    return f"instruction {i} ({disasm(program.insns[i])}): {parts}"


def _last_store_writing(program: Program, byte: int) -> str:
    """The last STORE (program order = store-queue order) whose DRAM rows cover `byte`."""
    found = None
    for i, insn in enumerate(program.insns):
        if not (isinstance(insn, MemInsn) and insn.opcode == Opcode.STORE and insn.x_size):
            continue
        eb = mem_elem_bytes(program.cfg, insn.mem_type)
        for y in range(insn.y_size):
            lo = (insn.dram_base + y * insn.x_stride) * eb
            if lo <= byte < lo + insn.x_size * eb:
                found = i
    if found is None:
        return "no STORE writes it"
    return f"last written by instruction {found} ({disasm(program.insns[found])})"


def first_dram_divergence(program: Program, hw: np.ndarray, rtl: np.ndarray) -> str | None:
    if hw.shape != rtl.shape:
        return f"DRAM sizes differ: hw_sim {hw.size} bytes, RTL {rtl.size} bytes"
    diff = np.flatnonzero(hw != rtl)
    if not diff.size:
        return None
    for buf in sorted(program.buffers.values(), key=lambda b: b.offset):
        inside = diff[(diff >= buf.offset) & (diff < buf.offset + buf.nbytes)]
        if inside.size:
            byte = int(inside[0])
            item = np.dtype(buf.dtype).itemsize
            flat = (byte - buf.offset) // item
            idx = tuple(int(v) for v in np.unravel_index(flat, buf.shape))
            a = program.read_buffer(hw, buf.name)[idx]
            b = program.read_buffer(rtl, buf.name)[idx]
            return (
                f"buffer {buf.name!r} element {idx}: hw_sim {a}, RTL {b} "
                f"({inside.size} differing bytes in this buffer); "
                + _last_store_writing(program, byte)
            )
    byte = int(diff[0])
    return f"DRAM byte {byte} (outside named buffers): hw_sim {hw[byte]}, RTL {rtl[byte]}"


def crosscheck(
    program: Program, max_cycles: int | None = None, timeout: float | None = None
) -> CrossCheck:
    """Run `program` on both devices and compare everything (`timeout`: wall-clock seconds
    per device)."""
    out = CrossCheck()
    try:
        hw = simulate(program, max_cycles=max_cycles, timeout=timeout)
    except SimError as e:
        out.error = f"hw_sim rejected the program: {e}"
        return out
    dram = program.dram.copy()
    try:
        rtl_stats, rtl_sched = run_rtl(
            program, dram, max_cycles=max_cycles, trace=True, timeout=timeout
        )
    except SimError as e:
        out.error = f"RTL run failed: {e}"
        return out
    out.hw_cycles, out.rtl_cycles = hw.stats.total_cycles, rtl_stats.total_cycles
    out.timing = first_timing_divergence(program, hw.schedule, rtl_sched)
    out.result = first_dram_divergence(program, hw.dram, dram)
    a, b = _flatten(hw.stats.counters()), _flatten(rtl_stats.counters())
    out.counters = [
        f"{k}: hw_sim {a.get(k)}, RTL {b.get(k)}" for k in {**a, **b} if a.get(k) != b.get(k)
    ]
    out.rtl_dram = dram
    return out
