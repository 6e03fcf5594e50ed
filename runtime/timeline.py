"""The co-run timeline of a heterogeneous model: when each launch runs on the CPU and on the
accelerator, from the durations of one measured run.

- sequential: launches one after another (a plain synchronous runtime);
- overlapped: list scheduling over the launch graph with two resources (one CPU, one
  accelerator): a launch starts when its inputs are ready and its device is free, so independent
  branches run on both devices at once. Dependencies are the values launches pass (read after
  write) and the arena bytes they share (a launch may not overwrite bytes an earlier launch still
  reads or writes), so the schedule is valid for the artifact's own memory plan;
- pipelined (`batch` images): the same graph per image, one arena per image in flight, images in
  priority order: the CPU work of image i+1 overlaps the accelerator work of image i.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.driver.model import LinkedModel


@dataclass(frozen=True)
class Slot:
    launch: int
    image: int
    device: str
    start_us: float
    end_us: float


@dataclass(frozen=True)
class Timeline:
    sequential_us: float
    overlapped_us: float
    slots: list[Slot]  # the overlapped schedule of one image

    @property
    def overlap_gain(self) -> float:
        return self.sequential_us / self.overlapped_us if self.overlapped_us else 1.0


def launch_dependencies(model: LinkedModel) -> list[set[int]]:
    """deps[j]: launches that must finish before launch j starts (values and shared bytes)."""

    def spans(names):
        out = []
        for v in names:
            t = model.tensors[v]
            if t.offset is not None:
                out.append((t.offset, t.offset + t.nbytes))
        return out

    reads = [spans(la.reads) for la in model.launches]
    writes = [spans(la.writes) for la in model.launches]
    producer = {v: i for i, la in enumerate(model.launches) for v in la.writes}

    def overlap(a, b):
        return any(s < e2 and s2 < e for s, e in a for s2, e2 in b)

    deps: list[set[int]] = []
    for j, la in enumerate(model.launches):
        d = {producer[v] for v in la.reads if v in producer and producer[v] < j}
        for i in range(j):
            if overlap(writes[j], reads[i] + writes[i]) or overlap(reads[j], writes[i]):
                d.add(i)
        deps.append(d)
    return deps


def list_schedule(
    durations: list[float], devices: list[str], deps: list[set[int]], priority: list[tuple]
) -> tuple[list[float], list[float]]:
    """Event-driven list scheduling: whenever a device is idle it starts the highest-priority
    task whose dependencies have finished. Returns (start, end) per task."""
    n = len(durations)
    start, end = [0.0] * n, [0.0] * n
    done: set[int] = set()
    running: dict[str, int | None] = {d: None for d in set(devices)}
    busy_until = dict.fromkeys(running, 0.0)
    pending = set(range(n))
    t = 0.0
    while pending or any(r is not None for r in running.values()):
        for dev, r in running.items():  # retire what finished by now
            if r is not None and end[r] <= t:
                done.add(r)
                running[dev] = None
        for dev in running:
            if running[dev] is None:
                ready = [k for k in pending if devices[k] == dev and deps[k] <= done]
                if ready:
                    k = min(ready, key=lambda x: priority[x])
                    pending.discard(k)
                    start[k], end[k] = t, t + durations[k]
                    running[dev], busy_until[dev] = k, end[k]
        nxt = [end[r] for r in running.values() if r is not None]
        if not nxt:
            if pending:  # nothing runs and nothing is ready: a dependency cycle
                raise RuntimeError(f"launch schedule stalled with {len(pending)} launches left")
            break
        t = min(nxt)
    return start, end


def co_run_timeline(model: LinkedModel, durations_us: list[float]) -> Timeline:
    deps = launch_dependencies(model)
    devices = [la.device for la in model.launches]
    start, end = list_schedule(durations_us, devices, deps, [(i,) for i in range(len(deps))])
    slots = [Slot(i, 0, devices[i], start[i], end[i]) for i in range(len(deps))]
    return Timeline(sum(durations_us), max(end, default=0.0), slots)


def pipelined(
    model: LinkedModel, durations_us: list[float], batch: int
) -> tuple[float, list[Slot]]:
    """(makespan in µs, slots) for `batch` images streamed through the model."""
    deps = launch_dependencies(model)
    n = len(deps)
    devices = [la.device for la in model.launches] * batch
    dur = list(durations_us) * batch
    all_deps = [{b * n + d for d in deps[i]} for b in range(batch) for i in range(n)]
    prio = [(b, i) for b in range(batch) for i in range(n)]
    start, end = list_schedule(dur, devices, all_deps, prio)
    slots = [Slot(k % n, k // n, devices[k], start[k], end[k]) for k in range(n * batch)]
    return max(end, default=0.0), slots
