"""Search strategies with one ask/tell interface: random, grid, genetic (model-based: xgb_tuner).

    tuner = RandomTuner(space, seed=0)
    points = tuner.ask(8)              # unvisited points of the raw space (may be invalid)
    tuner.tell(points, costs)          # cost per point; None = invalid or failed

A tuner is a pure function of its seed and of what it was told: replaying the same tells
reproduces the same asks, which is how a run resumes from its log and reaches the same state.
"""

from __future__ import annotations

import numpy as np

from compiler.tune.space import VtaSpace


class Tuner:
    name = "base"

    def __init__(self, space: VtaSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.visited: set[tuple[int, ...]] = set()
        self.costs: dict[tuple[int, ...], float | None] = {}

    @property
    def exhausted(self) -> bool:
        return len(self.visited) >= len(self.space)

    def ask(self, n: int) -> list[tuple[int, ...]]:
        raise NotImplementedError

    def tell(self, points: list[tuple[int, ...]], costs: list[float | None]) -> None:
        for p, c in zip(points, costs, strict=True):
            self.visited.add(p)
            self.costs[p] = c

    def _random_point(self) -> tuple[int, ...]:
        return tuple(int(self.rng.integers(n)) for n in self.space.sizes)

    def _random_unvisited(self, n: int, exclude=(), valid_only: bool = False, tries: int = 0):
        out: list[tuple[int, ...]] = []
        taken = set(exclude)
        tries = tries or 200 * max(1, n)
        while len(out) < n and tries > 0 and not self.exhausted:
            tries -= 1
            p = self._random_point()
            if p in self.visited or p in taken:
                continue
            if valid_only and self.space.check(p) is not None:
                continue
            taken.add(p)
            out.append(p)
        return out


class RandomTuner(Tuner):
    """Uniform over the raw space, without repeats."""

    name = "random"

    def ask(self, n: int) -> list[tuple[int, ...]]:
        return self._random_unvisited(n)


class GridTuner(Tuner):
    """The raw space in row-major order (tile sizes outermost)."""

    name = "grid"

    def __init__(self, space: VtaSpace, seed: int = 0) -> None:
        super().__init__(space, seed)
        self._next = 0

    def ask(self, n: int) -> list[tuple[int, ...]]:
        out = []
        while len(out) < n and self._next < len(self.space):
            p = self.space.from_index(self._next)
            self._next += 1
            if p not in self.visited:
                out.append(p)
        return out


class GATuner(Tuner):
    """A genetic algorithm (AutoTVM's): fitness-proportional parents from the best points so
    far (elitist), uniform crossover, per-gene mutation; failed points have fitness 0."""

    name = "ga"

    def __init__(
        self, space: VtaSpace, seed: int = 0, pop_size: int = 16, mutation_prob: float = 0.15
    ) -> None:
        super().__init__(space, seed)
        self.pop_size = pop_size
        self.mutation_prob = mutation_prob
        self._queue: list[tuple[int, ...]] = []

    def ask(self, n: int) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        while len(out) < n:
            if not self._queue:
                self._queue = self._generation(exclude=out)
                if not self._queue:
                    break
            p = self._queue.pop(0)
            if p not in self.visited and p not in out:
                out.append(p)
        return out

    def _generation(self, exclude) -> list[tuple[int, ...]]:
        scored = [(c, p) for p, c in self.costs.items() if c is not None]
        if len(scored) < 2:
            return self._random_unvisited(self.pop_size, exclude)
        scored.sort()
        elite = [p for _, p in scored[: self.pop_size]]
        best = scored[0][0]
        fit = np.array([best / c for c, _ in scored[: self.pop_size]]) ** 4
        prob = fit / fit.sum()
        children: list[tuple[int, ...]] = []
        taken = set(exclude)
        for _ in range(40 * self.pop_size):
            if len(children) >= self.pop_size:
                break
            i, j = self.rng.choice(len(elite), 2, p=prob)
            a, b = elite[i], elite[j]
            mask = self.rng.random(len(a)) < 0.5
            child = [a[g] if mask[g] else b[g] for g in range(len(a))]
            for g, size in enumerate(self.space.sizes):
                if self.rng.random() < self.mutation_prob:
                    child[g] = int(self.rng.integers(size))
            c = tuple(int(v) for v in child)
            if c not in self.visited and c not in taken:
                taken.add(c)
                children.append(c)
        return children or self._random_unvisited(self.pop_size, exclude)


def make_tuner(name: str, space: VtaSpace, seed: int = 0, **kw) -> Tuner:
    """`random` | `grid` | `ga` | `xgb` | `xgb-cold` (keyword arguments go to the tuner).

    `xgb-cold` is the XGBoost tuner without the analytic prior: its first batch is random."""
    if name in ("xgb", "xgb-cold"):
        from compiler.tune.xgb_tuner import XgbTuner

        if name == "xgb-cold":
            kw = {**kw, "prior": "none"}
        tuner = XgbTuner(space, seed, **kw)
        tuner.name = name
        return tuner
    tuners = {"random": RandomTuner, "grid": GridTuner, "ga": GATuner}
    if name not in tuners:
        raise ValueError(f"unknown tuner {name!r}: one of random, grid, ga, xgb, xgb-cold")
    return tuners[name](space, seed, **kw)
