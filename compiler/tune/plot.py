"""Tuning curves as a PNG: best-so-far utilization vs trials, one line per tuner (median over
seeds, with the min-max band), one panel per task, with the optimum and heuristic lines."""

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


def plot_curves(panels: dict[str, tuple], path: str | Path, title: str) -> None:
    """One panel per task: `panels[name] = (curves, optimum, heuristic)` where
    `curves[tuner]` is one best-so-far utilization list per seed; optimum / heuristic are
    utilizations drawn as reference lines (or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.9), squeeze=False)
    for ax, (name, (curves, optimum, heuristic)) in zip(axes[0], panels.items(), strict=True):
        for tuner, runs in curves.items():
            n = min(len(r) for r in runs)
            a = np.array([r[:n] for r in runs]) * 100
            xs = np.arange(1, n + 1)
            (line,) = ax.plot(xs, np.median(a, axis=0), label=f"{tuner} (median of {len(runs)})")
            ax.fill_between(xs, a.min(axis=0), a.max(axis=0), color=line.get_color(), alpha=0.12)
        if optimum is not None:
            ax.axhline(optimum * 100, color="k", ls="--", lw=0.8, label="optimum")
            ax.axhline(optimum * 95, color="k", ls=":", lw=0.8, label="95 % of optimum")
        if heuristic is not None:
            ax.axhline(heuristic * 100, color="tab:red", ls="-.", lw=0.8, label="heuristic")
        if optimum is not None:
            ax.set_ylim(max(0, optimum * 100 - 40), optimum * 100 + 3)
        ax.set_xlabel("trials (measured valid points)")
        ax.set_ylabel("best utilization so far (%)")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
