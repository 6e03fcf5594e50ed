"""Calibration: per-tensor ranges of every float value over sample inputs, and the power-of-two
exponent chosen from a range.

Methods: `max` takes the largest |x| seen; `percentile` takes, per sample, the given
percentile of |x| (default 99.99) and then the largest over samples, which ignores rare
outliers at the cost of clipping them; `mse` tries the exponent `max` gives and the next
two smaller ones (clipping more, resolving finer) and keeps the one with the least squared
quantization error on a fixed subsample of each tensor's values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph

INT8_MAX = 127
METHODS = ("max", "percentile", "mse")
MSE_SUBSAMPLE = 1 << 15  # values kept per tensor and sample for the `mse` method
MSE_CANDIDATES = 3  # exponents tried: e_max, e_max - 1, e_max - 2


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
    kept: dict[str, list[np.ndarray]] = {}
    pick = np.random.default_rng(0)
    count = 0
    for feeds in samples:
        count += 1
        env = run_graph(graph, feeds, keep_all=True)
        for name, value in env.items():
            if name in graph.constants or value.dtype.kind != "f" or value.size == 0:
                continue
            mag = np.abs(value)
            pct = method == "percentile"
            r = float(np.percentile(mag, percentile)) if pct else float(mag.max())
            ranges[name] = max(ranges.get(name, 0.0), r)
            if method == "mse":
                flat = value.ravel()
                if flat.size > MSE_SUBSAMPLE:
                    flat = flat[pick.choice(flat.size, MSE_SUBSAMPLE, replace=False)]
                kept.setdefault(name, []).append(flat.astype(np.float64))
    if count == 0:
        raise ValueError("calibration needs at least one sample input")
    if method == "mse":
        for name, parts in kept.items():
            e = best_exponent(np.concatenate(parts), pow2_exponent(ranges[name]))
            ranges[name] = INT8_MAX * 2.0**e
    return ranges


def best_exponent(values: np.ndarray, e_max: int, candidates: int = MSE_CANDIDATES) -> int:
    """The exponent in e_max, e_max - 1, ... with the least squared int8 quantization error."""
    best, best_err = e_max, np.inf
    for e in range(e_max, e_max - candidates, -1):
        q = np.clip(np.rint(values * 2.0**-e), -INT8_MAX - 1, INT8_MAX) * 2.0**e
        err = float(np.sum((q - values) ** 2))
        if err < best_err:
            best, best_err = e, err
    return best


def pow2_exponent(amax: float, qmax: int = INT8_MAX) -> int:
    """Smallest e with amax / 2**e <= qmax: the scale 2**e covers the range without clipping."""
    if not np.isfinite(amax) or amax <= 0:
        return 0
    return int(math.ceil(math.log2(amax / qmax)))
