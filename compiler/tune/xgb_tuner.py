"""The model-based tuner: XGBoost rank model + simulated annealing + ε-greedy + diversity.

Per batch: (re)train the cost model on every valid measurement of this task (utilization
labels: `kinds.useful_work` ÷ cycles; the features of the task's family, `kinds.py`) plus, with
transfer, the records of other tasks of that family (`transfer.TransferData`, one rank group
per task); run `sa_chains` simulated-annealing chains over the valid points (start: the best
measured points and random ones; move: change one knob; temperature falling linearly to 0),
keeping the best-predicted unvisited points; then take a diverse batch from them (each pick
differs from the earlier picks of the batch in at least 2 knobs) with an ε share of random
valid points. Until `min_train` points are measured (and without transfer) there is nothing to
learn from: with `prior="analytic"` (the default) the same annealing ranks points by the closed-form
prediction of the useful-GEMM share (`features.pred_useful_share`, docs/timing-model.md), so even
the first batch is model-guided; `prior="none"` samples that batch randomly, as AutoTVM does.
"""

from __future__ import annotations

import heapq

import numpy as np

from compiler.tune.cost_model import XgbCostModel
from compiler.tune.features import FeatureCache
from compiler.tune.kinds import useful_work
from compiler.tune.tuners import Tuner

PRIORS = ("analytic", "none")
PRIOR_FEATURE = "pred_useful_share"  # a column of both feature families


class XgbTuner(Tuner):
    name = "xgb"

    def __init__(
        self,
        space,
        seed: int = 0,
        transfer=None,
        eps: float = 0.1,
        sa_chains: int = 48,
        sa_steps: int = 40,
        min_train: int = 8,
        rounds: int = 60,
        prior: str = "analytic",
    ) -> None:
        if prior not in PRIORS:
            raise ValueError(f"xgb prior {prior!r} is not one of {PRIORS}")
        super().__init__(space, seed)
        self.prior = prior
        self.features = FeatureCache(space)
        self.transfer = transfer
        self.eps = eps
        self.sa_chains = sa_chains
        self.sa_steps = sa_steps
        self.min_train = min_train
        self.rounds = rounds
        self.useful = useful_work(space.task)
        self.prior_column = self.features.names.index(PRIOR_FEATURE)
        self.model: XgbCostModel | None = None
        self._fitted_on = -1

    def _valid_measured(self) -> list[tuple[tuple[int, ...], float]]:
        return [(p, c) for p, c in self.costs.items() if c is not None]

    def _fit(self) -> bool:
        own = self._valid_measured()
        if len(own) == self._fitted_on:
            return self.model is not None
        have_transfer = self.transfer is not None and len(self.transfer.y)
        if len(own) < self.min_train and not have_transfer:
            return False
        xs, ys, gs = [], [], []
        if own:
            xs.append(self.features.matrix([p for p, _ in own]))
            ys.append(np.array([self.useful / c for _, c in own], dtype=np.float32))
            gs.append(np.full(len(own), -1, dtype=np.int64))
        if have_transfer:
            xs.append(self.transfer.x)
            ys.append(self.transfer.y)
            gs.append(self.transfer.groups)
        x, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
        self.model = XgbCostModel(self.rounds, self.seed).fit(x, y, g)
        self._fitted_on = len(own)
        return True

    def ask(self, n: int) -> list[tuple[int, ...]]:
        if not self._fit() and self.prior == "none":
            return self._random_unvisited(n, valid_only=True)
        n_rand = int(round(self.eps * n))
        cands = self._anneal(max(4 * n, 32))
        picks = _diverse(cands, n - n_rand)
        if len(picks) < n:
            picks += self._random_unvisited(n - len(picks), exclude=picks, valid_only=True)
        return picks

    def _predict(self, points: list[tuple[int, ...]]) -> np.ndarray:
        x = self.features.matrix(points)
        if self.model is None:  # no data yet: the analytic prior ranks the points
            return x[:, self.prior_column].astype(np.float64)
        return self.model.predict(x)

    def _anneal(self, keep: int) -> list[tuple[int, ...]]:
        """The `keep` best-predicted unvisited valid points found by the annealing chains."""
        rng, space = self.rng, self.space
        own = sorted(self._valid_measured(), key=lambda pc: pc[1])
        starts = [p for p, _ in own[: self.sa_chains // 2]]
        starts += self._random_unvisited(
            self.sa_chains - len(starts), valid_only=True, tries=50 * self.sa_chains
        )
        if not starts:
            return []
        cur = list(starts)
        score = self._predict(cur)
        scale = float(np.std(score)) or 1.0
        best: list[tuple[float, int, tuple[int, ...]]] = []  # min-heap of (score, tiebreak, p)
        in_heap: set[tuple[int, ...]] = set()
        counter = 0

        def offer(s: float, p: tuple[int, ...]) -> None:
            nonlocal counter
            if p in self.visited or p in in_heap:
                return
            counter += 1
            if len(best) < keep:
                heapq.heappush(best, (s, -counter, p))
                in_heap.add(p)
            elif s > best[0][0]:
                _, _, old = heapq.heapreplace(best, (s, -counter, p))
                in_heap.discard(old)
                in_heap.add(p)

        for s, p in zip(score, cur, strict=True):
            offer(float(s), p)
        for step in range(self.sa_steps):
            temp = scale * (1.0 - step / self.sa_steps)
            props, idx = [], []
            for i, p in enumerate(cur):
                q = list(p)
                g = int(rng.integers(len(q)))
                size = space.sizes[g]
                if size < 2:
                    continue
                q[g] = int((q[g] + rng.integers(1, size)) % size)
                q = tuple(q)
                if space.check(q) is None:
                    props.append(q)
                    idx.append(i)
            if not props:
                continue
            new = self._predict(props)
            u = rng.random(len(props))
            for j, (i, q) in enumerate(zip(idx, props, strict=True)):
                offer(float(new[j]), q)
                d = float(new[j] - score[i])
                if d >= 0 or (temp > 0 and u[j] < np.exp(d / temp)):
                    cur[i], score[i] = q, new[j]
        return [p for _, _, p in sorted(best, reverse=True)]


def _diverse(cands: list[tuple[int, ...]], n: int) -> list[tuple[int, ...]]:
    """Greedy picks in `cands` order, each differing from earlier picks in >= 2 knobs; topped
    up with the next best if too few are that diverse."""
    picks: list[tuple[int, ...]] = []
    for c in cands:
        if len(picks) >= n:
            break
        if all(sum(a != b for a, b in zip(c, p, strict=True)) >= 2 for p in picks):
            picks.append(c)
    for c in cands:
        if len(picks) >= n:
            break
        if c not in picks:
            picks.append(c)
    return picks
