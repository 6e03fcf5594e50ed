"""Histogram calibration for power-of-two int8 scales: collect |x| histograms over samples and
pick an exponent e (scale 2**e, int8 range [-128, 127] * 2**e) by the least expected squared
error (`hist_mse`) or the least KL divergence between the value's distribution and its int8
version (`entropy`, TensorRT's method restricted to power-of-two thresholds).

The histogram spans [0, 2**k) with a power of two 2**k >= max |x|; when a later sample exceeds
it, `k` grows and old bins merge pairwise, which is exact because the edges nest. Exact zeros
(most of a ReLU's output) are counted apart: they quantize without error.
"""

from __future__ import annotations

import math

import numpy as np

BINS = 2048  # a power of two, so that doubling the span merges bins pairwise
CANDIDATES = 6  # exponents tried: e_max, e_max - 1, ..., e_max - 5
QMAX = 127  # |q| <= 127 on the magnitude side (int8 is symmetric apart from -128)


class AbsHistogram:
    """A histogram of |x| over a power-of-two span that grows as needed."""

    def __init__(self) -> None:
        self.counts = np.zeros(BINS, np.float64)
        self.top_exp: int | None = None  # the span is [0, 2**top_exp)
        self.zeros = 0
        self.total = 0

    def add(self, values: np.ndarray) -> None:
        mag = np.abs(values.astype(np.float64, copy=False)).ravel()
        mag = mag[np.isfinite(mag)]
        self.total += mag.size
        nz = mag[mag > 0]
        self.zeros += mag.size - nz.size
        if nz.size == 0:
            return
        need = math.floor(math.log2(float(nz.max()))) + 1  # 2**need > max
        if self.top_exp is None:
            self.top_exp = need
        while self.top_exp < need:  # double the span: bins 2i and 2i+1 merge into bin i
            merged = self.counts.reshape(-1, 2).sum(axis=1)
            self.counts = np.concatenate([merged, np.zeros(BINS // 2)])
            self.top_exp += 1
        width = 2.0**self.top_exp / BINS
        idx = np.minimum((nz / width).astype(np.int64), BINS - 1)
        self.counts += np.bincount(idx, minlength=BINS)

    @property
    def width(self) -> float:
        return 2.0**self.top_exp / BINS if self.top_exp is not None else 0.0

    def centers(self) -> np.ndarray:
        return (np.arange(BINS) + 0.5) * self.width


def _e_max(hist: AbsHistogram) -> int | None:
    """The exponent that covers the largest bin in use without clipping."""
    used = np.nonzero(hist.counts)[0]
    if used.size == 0:
        return None
    amax = (used[-1] + 1) * hist.width
    return int(math.ceil(math.log2(amax / QMAX)))


def expected_sq_error(hist: AbsHistogram, e: int) -> float:
    """Expected squared int8 error of the histogram's values at scale 2**e: clipping above
    127 * 2**e, rounding (uniform, step**2 / 12) below it, values under half a step become 0."""
    step = 2.0**e
    c = hist.centers()
    clip = QMAX * step
    err = np.where(c > clip, (c - clip) ** 2, np.where(c < step / 2, c**2, step**2 / 12))
    return float(np.dot(hist.counts, err))


def hist_mse_exponent(hist: AbsHistogram, candidates: int = CANDIDATES) -> int:
    e_max = _e_max(hist)
    if e_max is None:
        return 0
    errs = {e: expected_sq_error(hist, e) for e in range(e_max, e_max - candidates, -1)}
    return min(errs, key=lambda e: (errs[e], -e))  # ties: the wider range


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    if q.sum() <= 0:
        return math.inf
    p = p / p.sum()
    q = q / q.sum()
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / np.maximum(q[m], 1e-12))))


def entropy_exponent(hist: AbsHistogram, candidates: int = CANDIDATES) -> int:
    """TensorRT's entropy calibration over power-of-two thresholds T = 128 * 2**e: P is the
    histogram up to T with the clipped tail added to its last bin; Q merges P's bins into the
    128 int8 levels and spreads each level's mass over its non-empty bins; the exponent with
    the least KL(P || Q) wins."""
    e_max = _e_max(hist)
    if e_max is None:
        return 0
    best, best_kl = e_max, math.inf
    for e in range(e_max, e_max - candidates, -1):
        n = int(round((QMAX + 1) * 2.0**e / hist.width))  # bins below the threshold
        if n < QMAX + 1:  # finer int8 steps than histogram bins: nothing left to resolve
            break
        n = min(n, BINS)
        p = hist.counts[:n].copy()
        p[-1] += hist.counts[n:].sum()
        if p.sum() == 0:
            continue
        q = np.zeros(n)
        edges = np.linspace(0, n, QMAX + 2).astype(np.int64)  # 128 levels
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            chunk = hist.counts[lo:hi]  # Q leaves the clipped tail out (as TensorRT does)
            used = chunk > 0
            if used.any():
                q[lo:hi][used] = chunk.sum() / used.sum()
        kl = _kl(p, q)
        if kl < best_kl - 1e-12:
            best, best_kl = e, kl
    return best
