"""Calibration: per-tensor ranges of every float value over sample inputs, and the power-of-two
exponent chosen from a range.

Methods: `max` takes the largest |x| seen; `percentile` takes, per sample, the given
percentile of |x| (default 99.99) and then the largest over samples, which ignores rare
outliers at the cost of clipping them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph

INT8_MAX = 127
METHODS = ("max", "percentile")


def calibrate(
    graph: Graph,
    samples: Iterable[Mapping[str, np.ndarray]],
    method: str = "max",
    percentile: float = 99.99,
) -> dict[str, float]:
    """Map value name -> calibrated |x| range over the samples (float values only)."""
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not one of {METHODS}")
    ranges: dict[str, float] = {}
    count = 0
    for feeds in samples:
        count += 1
        env = run_graph(graph, feeds, keep_all=True)
        for name, value in env.items():
            if name in graph.constants or value.dtype.kind != "f" or value.size == 0:
                continue
            mag = np.abs(value)
            r = float(mag.max()) if method == "max" else float(np.percentile(mag, percentile))
            ranges[name] = max(ranges.get(name, 0.0), r)
    if count == 0:
        raise ValueError("calibration needs at least one sample input")
    return ranges


def pow2_exponent(amax: float, qmax: int = INT8_MAX) -> int:
    """Smallest e with amax / 2**e <= qmax: the scale 2**e covers the range without clipping."""
    if not np.isfinite(amax) or amax <= 0:
        return 0
    return int(math.ceil(math.log2(amax / qmax)))
