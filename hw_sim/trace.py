"""Timeline traces in Chrome trace-event JSON (open in https://ui.perfetto.dev or chrome://tracing).

One track (thread) per module: fetch shows one 1-cycle slice per dispatch; load, compute and
store show one slice per instruction, named by its listing, with the DRAM-latency cycles and the
token/queue waits in its arguments. Timestamps are cycles, written as microseconds (so 1 "us" in
the viewer is one cycle); `cycle_us` rescales to real time at the configured clock if wanted.
"""

from __future__ import annotations

import json
from pathlib import Path

from hw_sim.disasm import disasm
from hw_sim.isa import Insn, Module
from hw_sim.simulator import SimResult

_TRACK_NAMES = {m: m.name.lower() for m in Module}


def trace_events(result: SimResult, cycle_us: float = 1.0) -> list[dict]:
    """The run as a list of trace events (metadata first)."""
    sched, insns = result.schedule, result.insns
    events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "vtac"}}]
    for m, name in _TRACK_NAMES.items():
        events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": int(m),
                       "args": {"name": name}})  # fmt: skip
        events.append({"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": int(m),
                       "args": {"sort_index": int(m)}})  # fmt: skip
    for i, insn in enumerate(insns):
        d, s, e = sched.dispatch[i], sched.start[i], sched.end[i]
        if d >= 0:
            events.append({"name": f"dispatch {i}", "ph": "X", "pid": 0, "tid": int(Module.FETCH),
                           "ts": d * cycle_us, "dur": cycle_us,
                           "args": {"insn": i, "arrived": sched.arrive[i]}})  # fmt: skip
        if s >= 0:
            events.append(_insn_event(i, insn, sched.module[i], d, s, e, sched.memory[i], cycle_us))
    return events


def _insn_event(i: int, insn: Insn, mod: int, d: int, s: int, e: int, mem: int, k: float) -> dict:
    text = disasm(insn)
    return {
        "name": text.split("  ")[0][:60],
        "ph": "X",
        "pid": 0,
        "tid": mod,
        "ts": s * k,
        "dur": (e - s) * k,
        "args": {
            "insn": i,
            "listing": text,
            "dispatched": d,
            "start": s,
            "end": e,
            "memory_cycles": mem,
        },
    }


def write_trace(result: SimResult, path: str | Path, cycle_us: float = 1.0) -> None:
    """Write the Chrome trace-event JSON of a run to `path`."""
    doc = {"traceEvents": trace_events(result, cycle_us),
           "otherData": {"total_cycles": result.stats.total_cycles}}  # fmt: skip
    Path(path).write_text(json.dumps(doc))
