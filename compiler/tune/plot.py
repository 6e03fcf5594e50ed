"""Tuning curves as a PNG: best-so-far utilization vs trials, one line per tuner (median over
seeds, with the min-max band), optionally with the optimum as a dashed line."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def best_so_far(history: list[float | None], useful: int) -> list[float]:
    """Best utilization (useful GEMM cycles ÷ cycles) after each trial (0 before any OK)."""
    out, best = [], 0.0
    for c in history:
        if c is not None:
            best = max(best, useful / c)
        out.append(best)
    return out


def plot_curves(
    curves: dict[str, list[list[float]]],
    path: str | Path,
    title: str,
    optimum: float | None = None,
    heuristic: float | None = None,
) -> None:
    """`curves[tuner]` = one best-so-far utilization list per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, runs in curves.items():
        n = min(len(r) for r in runs)
        a = np.array([r[:n] for r in runs]) * 100
        xs = np.arange(1, n + 1)
        (line,) = ax.plot(xs, np.median(a, axis=0), label=f"{name} (median of {len(runs)})")
        ax.fill_between(xs, a.min(axis=0), a.max(axis=0), color=line.get_color(), alpha=0.15)
    if optimum is not None:
        ax.axhline(optimum * 100, color="k", ls="--", lw=0.8, label="best known")
        ax.axhline(optimum * 95, color="k", ls=":", lw=0.8, label="95 % of best known")
    if heuristic is not None:
        ax.axhline(heuristic * 100, color="tab:red", ls="-.", lw=0.8, label="heuristic")
    ax.set_xlabel("trials (measured valid points)")
    ax.set_ylabel("best utilization so far (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
