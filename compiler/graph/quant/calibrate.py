"""Calibration: per-tensor ranges of every float value over sample inputs, and the power-of-two
exponent chosen from a range.

Methods: `max` takes the largest |x| seen; `percentile` takes, per sample, the given
percentile of |x| (default 99.99) and then the largest over samples, which ignores rare
outliers at the cost of clipping them; `mse` tries the exponent `max` gives and the next
two smaller ones (clipping more, resolving finer) and keeps the one with the least squared
quantization error on a fixed subsample of each tensor's values; `hist_mse` and `entropy` pick
the exponent from a histogram of |x| over all values (`histogram.py`: least expected squared
error, or TensorRT's KL divergence over power-of-two thresholds). `collect_stats` gathers what
every method needs in one pass, so that methods can be compared (and chosen per value,
`choose.py`) without re-running the graph.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph
from compiler.graph.quant.histogram import (
    AbsHistogram,
    entropy_exponent,
    expected_sq_error,
    hist_mse_exponent,
)

INT8_MAX = 127
METHODS = ("max", "percentile", "mse", "hist_mse", "entropy")
MSE_SUBSAMPLE = 1 << 15  # values kept per tensor and sample for the `mse` method
MSE_CANDIDATES = 3  # exponents tried: e_max, e_max - 1, e_max - 2


@dataclass
class ValueStats:
    """What calibration saw of one float value over all samples."""

    amax: float = 0.0  # max |x|
    pct: float = 0.0  # max over samples of the per-sample percentile of |x|
    hist: AbsHistogram = field(default_factory=AbsHistogram)
    kept: list[np.ndarray] = field(default_factory=list)  # subsample for `mse`

    def exponent(self, method: str) -> int:
        """The power-of-two exponent `method` picks for this value."""
        if method == "max":
            return pow2_exponent(self.amax)
        if method == "percentile":
            return pow2_exponent(self.pct)
        if method == "mse":
            values = np.concatenate(self.kept) if self.kept else np.zeros(1)
            return best_exponent(values, pow2_exponent(self.amax))
        if method == "hist_mse":
            return hist_mse_exponent(self.hist)
        if method == "entropy":
            return entropy_exponent(self.hist)
        raise ValueError(f"calibration method {method!r} is not one of {METHODS}")


def collect_stats(
    graph: Graph,
    samples: Iterable[Mapping[str, np.ndarray]],
    percentile: float = 99.99,
    keep_subsample: bool = True,
    keep_hist: bool = True,
) -> dict[str, ValueStats]:
    """Per float value of `graph`: max, percentile, |x| histogram (for `hist_mse`, `entropy`;
    skipped without `keep_hist`) and a subsample (for `mse`), in one pass over the samples."""
    stats: dict[str, ValueStats] = {}
    pick = np.random.default_rng(0)
    count = 0
    for feeds in samples:
        count += 1
        env = run_graph(graph, feeds, keep_all=True)
        for name, value in env.items():
            if name in graph.constants or value.dtype.kind != "f" or value.size == 0:
                continue
            st = stats.setdefault(name, ValueStats())
            mag = np.abs(value)
            st.amax = max(st.amax, float(mag.max()))
            st.pct = max(st.pct, float(np.percentile(mag, percentile)))
            if keep_hist:
                st.hist.add(mag)
            if keep_subsample:
                flat = value.ravel()
                if flat.size > MSE_SUBSAMPLE:
                    flat = flat[pick.choice(flat.size, MSE_SUBSAMPLE, replace=False)]
                st.kept.append(flat.astype(np.float64))
    if count == 0:
        raise ValueError("calibration needs at least one sample input")
    return stats


def ranges_of(stats: Mapping[str, ValueStats], method: str | Mapping[str, str]) -> dict[str, float]:
    """Ranges (127 * 2**e) from the exponents `method` picks (one method, or one per value)."""
    pick = (lambda n: method) if isinstance(method, str) else (lambda n: method.get(n, "max"))
    return {n: INT8_MAX * 2.0 ** st.exponent(pick(n)) for n, st in stats.items()}


# Free (non-power-of-two) ranges: candidate scales 2**(e0 - k / FREE_STEPS) below the range's
# own scale e0, k < FREE_STEPS * FREE_OCTAVES (the power-of-two methods' span, finer).
FREE_STEPS, FREE_OCTAVES = 16, 5


def free_range(st: ValueStats, method: str) -> float:
    """The calibrated |x| range of `method` without rounding its scale to a power of two
    (requant="mul"): max and percentile as measured; hist_mse and mse the least (expected)
    squared error over scales 2**(e0 - k/16); entropy (power-of-two thresholds only) its
    power-of-two range."""
    if method == "max" or (st.amax <= 0 or not np.isfinite(st.amax)):
        return st.amax
    if method == "percentile":
        return st.pct
    e0 = math.log2(st.amax / INT8_MAX)
    exps = e0 - np.arange(FREE_STEPS * FREE_OCTAVES) / FREE_STEPS
    if method == "hist_mse":
        if not st.hist.counts.any():
            return st.amax
        errs = [expected_sq_error(st.hist, float(e)) for e in exps]
    elif method == "mse":
        v = np.concatenate(st.kept) if st.kept else np.zeros(1)
        errs = [float(np.sum((np.clip(np.rint(v / 2.0**e), -INT8_MAX - 1, INT8_MAX) * 2.0**e
                              - v) ** 2)) for e in exps]  # fmt: skip
    else:
        return INT8_MAX * 2.0 ** st.exponent(method)
    return float(INT8_MAX * 2.0 ** exps[int(np.argmin(errs))])


def free_ranges_of(stats: Mapping[str, ValueStats], method: str | Mapping[str, str]):
    """`free_range` of every value, by one method or one per value (as `ranges_of`)."""
    pick = (lambda n: method) if isinstance(method, str) else (lambda n: method.get(n, "max"))
    return {n: free_range(st, pick(n)) for n, st in stats.items()}


def calibrate(
    graph: Graph,
    samples: Iterable[Mapping[str, np.ndarray]],
    method: str = "max",
    percentile: float = 99.99,
) -> dict[str, float]:
    """Map value name -> calibrated |x| range over the samples (float values only)."""
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not one of {METHODS}")
    stats = collect_stats(graph, samples, percentile, keep_subsample=method == "mse",
                          keep_hist=method in ("hist_mse", "entropy"))  # fmt: skip
    if method in ("max", "percentile"):  # the raw range, as before (not rounded to 2**e)
        return {n: st.amax if method == "max" else st.pct for n, st in stats.items()}
    return ranges_of(stats, method)


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
