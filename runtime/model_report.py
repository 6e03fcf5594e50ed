"""Outputs of a profiled co-run for people: a Perfetto timeline and a bar chart.

`write_model_trace`: Chrome trace-event JSON (open in https://ui.perfetto.dev) on the overlapped
timeline, in microseconds: a CPU track, an accelerator track (one slice per launch), and under
it the accelerator's load, compute and store tracks with one slice per instruction (from
`hw_sim`'s schedule; absent for devices that do not report one).
`plot_profile`: a horizontal bar chart of the per-layer times (matplotlib, PNG).
"""

from __future__ import annotations

import json
from pathlib import Path

from compiler.driver.model import LinkedModel
from hw_sim.isa import Module
from runtime.executor import LaunchRecord
from runtime.profile import Profile

_TRACKS = {"cpu": 1, "accel": 2, Module.LOAD: 3, Module.COMPUTE: 4, Module.STORE: 5}
_NAMES = {1: "CPU", 2: "accelerator", 3: "accelerator: load", 4: "accelerator: compute",
          5: "accelerator: store"}  # fmt: skip


def trace_events(model: LinkedModel, records: list[LaunchRecord], profile: Profile) -> list[dict]:
    from hw_sim.disasm import disasm

    ev: list[dict] = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": model.name}}]
    for tid, name in _NAMES.items():
        ev.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}})
        ev.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                   "args": {"sort_index": tid}})  # fmt: skip
    us_per_cycle = 1.0 / model.cfg.CLOCK_MHZ
    for slot in profile.timeline.slots:
        la, rec = model.launches[slot.launch], records[slot.launch]
        ev.append({"name": la.name, "ph": "X", "pid": 1, "tid": _TRACKS[la.device],
                   "ts": slot.start_us, "dur": slot.end_us - slot.start_us,
                   "args": {"ops": "+".join(la.ops), "cycles": rec.cycles,
                            "launch_overhead_us": rec.overhead_us}})  # fmt: skip
        if rec.schedule is None:
            continue
        sched, insns = rec.schedule
        t0 = slot.start_us + rec.overhead_us  # the host overhead comes before the stream starts
        for i, insn in enumerate(insns):
            s, e, mod = sched.start[i], sched.end[i], sched.module[i]
            if s < 0 or mod not in _TRACKS:
                continue
            ev.append({"name": disasm(insn).split("  ")[0][:48], "ph": "X", "pid": 1,
                       "tid": _TRACKS[Module(mod)], "ts": t0 + s * us_per_cycle,
                       "dur": max(e - s, 1) * us_per_cycle,
                       "args": {"launch": la.name, "insn": i, "cycles": [s, e]}})  # fmt: skip
    return ev


def write_model_trace(path: str | Path, model: LinkedModel, records, profile: Profile) -> None:
    Path(path).write_text(json.dumps({"traceEvents": trace_events(model, records, profile),
                                      "displayTimeUnit": "ns"}))  # fmt: skip


def plot_profile(path: str | Path, profile: Profile, title: str, top: int = 30) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(profile.rows, key=lambda r: -r.time_us)[:top][::-1]
    colors = {"accel": "#1f77b4", "cpu": "#d62728"}
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.6))
    ax.barh([r.name for r in rows], [r.time_us / 1e3 for r in rows],
            color=[colors[r.device] for r in rows])  # fmt: skip
    for i, r in enumerate(rows):
        label = f" {100 * r.share:.1f}%"
        if r.utilization is not None:
            label += f", util {100 * r.utilization:.0f}%"
        ax.text(r.time_us / 1e3, i, label, va="center", fontsize=7)
    ax.set_xlabel("time (ms): accelerator = simulated cycles at the config clock + launch "
                  "overhead; CPU = measured")  # fmt: skip
    ax.set_title(f"{title}: {profile.sequential_us / 1e3:.2f} ms sequential, "
                 f"{profile.timeline.overlapped_us / 1e3:.2f} ms overlapped "
                 "(blue accelerator, red CPU)", fontsize=9)  # fmt: skip
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
