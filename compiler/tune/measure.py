"""Measurement: knob points → typed results, run in a pluggable executor.

Accelerator: compile the operator with the knobs and run it once on `hw_sim` (deterministic, so
one run is the measurement); the cost is total cycles, and the per-module busy/stall counters
and instruction counts come along as extra labels. Max pool and upsample points run on seeded
random int8 data and their output is compared with the NumPy reference (a mismatch is a
RUNTIME_ERROR: a schedule that computes the wrong result is never "fast"); conv/dense points
run on the zeroed DRAM image (their generated code is checked by the compiler's tests).
CPU: the existing median-of-repeats timing (`compiler.cpu.measure`); the cost is seconds.
A failure is a typed result, never an exception out of the run:

    OK  COMPILE_ERROR  INVALID (filtered before measuring, with its reason)  RUNTIME_ERROR  TIMEOUT

Executors map a picklable job function over argument dicts: `SerialExecutor` (in process),
`LocalExecutor` (a process pool, the default), `dask_executor.DaskExecutor` (many machines).
"""

from __future__ import annotations

import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing import get_context

import numpy as np


class Status(StrEnum):
    OK = "ok"
    COMPILE_ERROR = "compile_error"
    INVALID = "invalid"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"


@dataclass
class MeasureResult:
    status: Status
    cost: float | None = None  # cycles (vta) or seconds (cpu); None unless OK
    error: str = ""  # the reason (invalid) or the exception's last line
    labels: dict = field(default_factory=dict)  # busy/stall counters, instruction counts
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def to_dict(self) -> dict:
        return {
            "status": self.status.value,
            "cost": self.cost,
            "error": self.error,
            "labels": self.labels,
            "wall_s": round(self.wall_s, 4),
        }

    @classmethod
    def from_dict(cls, d: dict) -> MeasureResult:
        return cls(
            Status(d["status"]),
            d.get("cost"),
            d.get("error", ""),
            d.get("labels", {}),
            d.get("wall_s", 0.0),
        )


def _last_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"


def measure_vta_job(job: dict) -> dict:
    """Compile + simulate one point (`job`: task dict, knobs dict); returns a result dict.

    Top-level and dict-in/dict-out so that process pools and Dask can ship it.
    """
    from compiler.tune.kinds import knobs_from_dict
    from compiler.tune.task import Task
    from compiler.tune.tile_space import TILE_KINDS, reference_check
    from compiler.vta.build import build
    from runtime.device import get_device

    t0 = time.perf_counter()
    task = Task.from_dict(job["task"])
    knobs = knobs_from_dict(task.kind, job["knobs"])
    try:
        op = task.build_op(getattr(knobs, "bias_on", "") or "gemm")
        kern = build(op, task.hw, knobs)
    except Exception as e:  # noqa: BLE001 - a failing point is a result, not a crash
        return MeasureResult(
            Status.COMPILE_ERROR, error=_last_line(e), wall_s=time.perf_counter() - t0
        ).to_dict()
    try:
        dev = get_device("hw_sim", task.hw)
        if task.kind in TILE_KINDS:
            x, want = reference_check(op, task.kind)
            got, st = kern.run(dev, data=x)
            if not np.array_equal(got, want):
                bad = int((got != want).sum())
                raise ValueError(f"result differs from the reference in {bad} of {want.size}")
        else:
            dev.load(kern.program)
            st = dev.run()
    except Exception as e:  # noqa: BLE001
        return MeasureResult(
            Status.RUNTIME_ERROR, error=_last_line(e), wall_s=time.perf_counter() - t0
        ).to_dict()
    labels = {
        "gemm_uops": int(st.gemm_uops),
        "alu_uops": int(st.alu_uops),
        "instructions": len(kern.program.insns),
        "modules": {m: _module_counters(st, m) for m in st.modules},
    }
    return MeasureResult(
        Status.OK, float(st.total_cycles), labels=labels, wall_s=time.perf_counter() - t0
    ).to_dict()


def _module_counters(st, module: str) -> dict:
    c = st.modules[module]
    if isinstance(c, dict):
        return {k: int(v) for k, v in c.items() if isinstance(v, int | float)}
    return {k: int(v) for k, v in vars(c).items() if isinstance(v, int | float)}


def measure_cpu_job(job: dict) -> dict:
    """Time one CPU conv2d point (median of repeats) in this process."""
    from compiler.cpu import conv2d as conv_mod
    from compiler.cpu.measure import conv2d_task

    t0 = time.perf_counter()
    w = job["task"]["workload"]
    pad = (w["k"] - 1) // 2
    shape = conv_mod.Conv2dShape(
        1, w["c"], w["h"], w["w"], w["o"], w["k"], w["k"], (w["stride"],) * 2, (pad, pad)
    )
    knobs = conv_mod.Conv2dKnobs(**job["knobs"])
    try:
        seconds = conv2d_task(shape, repeat=job.get("repeat", 5)).measure(knobs)
    except Exception as e:  # noqa: BLE001
        return MeasureResult(
            Status.RUNTIME_ERROR,
            error=_last_line(e) + traceback.format_exc(0),
            wall_s=time.perf_counter() - t0,
        ).to_dict()
    return MeasureResult(Status.OK, seconds, wall_s=time.perf_counter() - t0).to_dict()


class SerialExecutor:
    """Runs jobs one by one in this process (tests, and CPU timing, which must run alone)."""

    def map(self, fn, jobs: list[dict], timeout: float | None = None) -> list[dict]:
        return [fn(j) for j in jobs]

    def close(self) -> None:
        pass


class LocalExecutor:
    """A process pool of forked workers (fast to start, and scripts need no `__main__` guard;
    the workers only compile and simulate, so no thread state of the parent matters). A job
    that does not finish within `timeout` seconds is a TIMEOUT result and the pool replaced."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("fork"))
        return self._pool

    def map(self, fn, jobs: list[dict], timeout: float | None = None) -> list[dict]:
        futs = [self._get().submit(fn, j) for j in jobs]
        out, broken = [], False
        deadline = None if timeout is None else time.monotonic() + timeout * max(1, len(jobs))
        for f in futs:
            try:
                left = None if deadline is None else max(0.01, deadline - time.monotonic())
                out.append(f.result(timeout=left))
            except FutureTimeout:
                broken = True
                out.append(
                    MeasureResult(Status.TIMEOUT, error=f"no result in {timeout} s").to_dict()
                )
            except Exception as e:  # noqa: BLE001 - a dead worker is a result too
                broken = True
                out.append(MeasureResult(Status.RUNTIME_ERROR, error=_last_line(e)).to_dict())
        if broken:
            self.close(kill=True)
        return out

    def close(self, kill: bool = False) -> None:
        if self._pool is not None:
            if kill:
                for p in list(getattr(self._pool, "_processes", {}).values()):
                    p.kill()
            self._pool.shutdown(wait=not kill, cancel_futures=True)
            self._pool = None
