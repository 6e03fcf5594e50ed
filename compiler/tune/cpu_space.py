"""The CPU knob space of a conv2d task: the existing `compiler.cpu.conv2d.knob_space`, ordered
from the untuned default outwards (so the grid tuner is a local search around it).

A point is a 1-tuple (the index in that order); every point is valid (the CPU space holds
only schedules that compile). Costs are median seconds (`measure.measure_cpu_job`).
"""

from __future__ import annotations

from dataclasses import asdict

from compiler.cpu import conv2d as conv_mod
from compiler.llvm import vector_lanes, vector_registers
from compiler.tune.task import Task


def conv_shape(task: Task) -> conv_mod.Conv2dShape:
    w = task.workload
    pad = (w["k"] - 1) // 2
    return conv_mod.Conv2dShape(
        1, w["c"], w["h"], w["w"], w["o"], w["k"], w["k"], (w["stride"],) * 2, (pad, pad)
    )


class _Knobs(conv_mod.Conv2dKnobs):
    def to_dict(self) -> dict:
        return asdict(self)


class CpuConvSpace:
    def __init__(self, task: Task) -> None:
        self.task = task
        shape = conv_shape(task)
        lanes, regs = vector_lanes(), vector_registers()
        d = conv_mod.default_knobs(shape, lanes, regs)
        space = conv_mod.knob_space(shape, lanes, regs)
        if d not in space:
            space.append(d)

        def distance(k: conv_mod.Conv2dKnobs) -> tuple:
            cat = (k.oc_bn != d.oc_bn) + (k.ic_bn != d.ic_bn) + (k.unroll_kw != d.unroll_kw)
            return (
                2 * cat + abs(k.ow_tile - d.ow_tile),
                k.ow_tile,
                k.ic_bn,
                k.unroll_kw,
            )

        self.points = [_Knobs(**asdict(k)) for k in sorted(space, key=distance)]
        self.default = self.points[0]
        self.sizes = [len(self.points)]

    def __len__(self) -> int:
        return len(self.points)

    def knobs(self, point: tuple[int]) -> _Knobs:
        return self.points[point[0]]

    def from_index(self, i: int) -> tuple[int]:
        return (i,)

    def check(self, point: tuple[int]) -> str | None:
        return None
