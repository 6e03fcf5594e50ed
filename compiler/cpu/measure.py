"""Measuring CPU schedules, for the tuner: a task = (knob space, default, measure(knobs)).

`measure(knobs)` compiles the operator with those knobs (through the kernel cache), runs it on
fixed random data and returns the median seconds per call over `repeat` timed batches of
calls; it checks the result against the default schedule's first, so a wrong schedule is an
error, not a fast measurement. Speed is only measured here and in `scripts/`, never asserted
in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compiler.cpu import conv2d as conv_mod
from compiler.cpu import dense as dense_mod
from compiler.cpu.layout import pack_conv_weight, pack_nchwc_numpy
from compiler.cpu.runtime import build
from compiler.llvm import vector_lanes, vector_registers


class ScheduleMismatch(AssertionError):
    """A schedule computed a different result than the default schedule."""


@dataclass
class CpuTask:
    name: str
    flops: int
    space: list
    default: object
    measure: Callable[[object], float]


def time_call(fn: Callable[[], object], repeat: int = 5, min_seconds: float = 0.01) -> float:
    """Median seconds per call of `fn` over `repeat` batches, each at least `min_seconds`."""
    fn()
    t0 = time.perf_counter()
    fn()
    number = max(1, int(min_seconds / max(time.perf_counter() - t0, 1e-7)))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return float(np.median(samples))


def conv2d_task(shape: conv_mod.Conv2dShape, seed: int = 0, repeat: int = 5) -> CpuTask:
    """The NCHWc conv2d kernel of `shape` (packing outside the timed call)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.n, shape.c, shape.h, shape.w)).astype(np.float32)
    w = rng.standard_normal((shape.o, shape.c // shape.groups, shape.kh, shape.kw))
    w = w.astype(np.float32)
    lanes, regs = vector_lanes(), vector_registers()
    oh, ow = shape.out_hw
    reference: list[np.ndarray] = []

    def run(k: conv_mod.Conv2dKnobs) -> tuple[Callable[[], None], np.ndarray]:
        kern = build(conv_mod.conv2d_nchwc(shape, k))
        xb = pack_nchwc_numpy(x, k.ic_bn, shape.pad)
        wb = pack_conv_weight(w, k.ic_bn, k.oc_bn)
        out = np.empty((shape.n, shape.o // k.oc_bn, oh, ow, k.oc_bn), np.float32)
        kern(xb, wb, out)
        nchw = out.transpose(0, 1, 4, 2, 3).reshape(shape.n, shape.o, oh, ow)
        return (lambda: kern(xb, wb, out)), nchw

    def measure(k: conv_mod.Conv2dKnobs) -> float:
        fn, result = run(k)
        if not reference:
            reference.append(run(conv_mod.default_knobs(shape, lanes, regs))[1])
        scale = max(1.0, float(np.abs(reference[0]).max()))
        if not np.allclose(result, reference[0], atol=1e-4 * scale, rtol=0):
            raise ScheduleMismatch(f"conv2d {shape}: knobs {k} give a different result")
        return time_call(fn, repeat)

    return CpuTask(
        f"conv2d{shape}",
        shape.flops,
        conv_mod.knob_space(shape, lanes, regs),
        conv_mod.default_knobs(shape, lanes, regs),
        measure,
    )


def dense_task(m: int, k: int, n: int, seed: int = 0, repeat: int = 5) -> CpuTask:
    """The dense kernel `[m, k] @ [k, n]` with packed weights."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    lanes, regs = vector_lanes(), vector_registers()
    ref = (x[0].astype(np.float64) @ w).astype(np.float32)

    def measure(kn: dense_mod.DenseKnobs) -> float:
        kern = build(dense_mod.dense(m, k, n, kn))
        wp = dense_mod.pack_dense_weight(w, kn.nb)[None]
        out = np.empty((1, m, n), np.float32)
        kern(x, wp, out)
        if not np.allclose(out[0], ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())), rtol=0):
            raise ScheduleMismatch(f"dense {m}x{k}x{n}: knobs {kn} give a different result")
        return time_call(lambda: kern(x, wp, out), repeat)

    return CpuTask(
        f"dense{m}x{k}x{n}",
        2 * m * k * n,
        dense_mod.knob_space(m, n, lanes, regs),
        dense_mod.default_dense_knobs(m, k, n, lanes, regs),
        measure,
    )
