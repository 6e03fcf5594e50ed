"""Pass infrastructure: named `PrimFunc -> PrimFunc` passes composed in a `Sequential`.

A pipeline is a list of `Pass(name, fn, reason)`; `Sequential.run` verifies the IR it is given,
applies the passes in order and verifies the IR at the end (the pipeline's two boundaries; also
after every pass with `verify_each=True` or `VTAC_DEBUG>=2`).

Debug output is controlled by the environment variable `VTAC_DEBUG` (read at run time):
    1  pass names and wall times
    2  + the IR after each pass
    3  + the accelerator instruction listing (printed by the VTA code generator)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from compiler.tir.nodes import PrimFunc
from compiler.tir.printer import print_func
from compiler.tir.verify import verify


def debug_level() -> int:
    try:
        return int(os.environ.get("VTAC_DEBUG", "0"))
    except ValueError:
        return 0


def debug_print(level: int, text: str) -> None:
    if debug_level() >= level:
        print(text, file=sys.stderr)


@dataclass(frozen=True)
class Pass:
    """A named IR transformation; `reason` says in one line why it sits where it does."""

    name: str
    fn: Callable[[PrimFunc], PrimFunc]
    reason: str = ""

    def __call__(self, func: PrimFunc) -> PrimFunc:
        return self.fn(func)


class Sequential:
    def __init__(self, passes: list[Pass], name: str = "pipeline", verify_each: bool = False):
        self.passes = passes
        self.name = name
        self.verify_each = verify_each
        self.timings: list[tuple[str, float]] = []

    def run(self, func: PrimFunc) -> PrimFunc:
        level = debug_level()
        self.timings = []
        verify(func)  # boundary: what the previous level handed over
        for p in self.passes:
            t0 = time.perf_counter()
            try:
                func = p(func)
            except Exception as e:
                e.add_note(f"in pass {p.name} of pipeline {self.name}, function {func.name}")
                raise
            dt = time.perf_counter() - t0
            self.timings.append((p.name, dt))
            if level >= 1:
                debug_print(1, f"[{self.name}] {p.name}: {dt * 1e3:.2f} ms")
            if level >= 2:
                debug_print(2, print_func(func))
            if self.verify_each or level >= 2:
                verify(func)
        verify(func)
        return func

    def describe(self) -> str:
        return "\n".join(f"{p.name}: {p.reason}" for p in self.passes)
