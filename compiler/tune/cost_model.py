"""The learned cost model: XGBoost with a ranking objective (the only module importing xgboost).

`fit(X, y, groups)` trains on feature rows `X` (see `features.FEATURE_NAMES`) with labels `y` =
the measured utilization (useful GEMM cycles ÷ total cycles, higher is better, comparable across
workloads) and `groups` = a task id per row: the pairwise rank objective only compares rows of
one task, so it learns which schedule of a workload is faster, which is what the search needs.
`predict(X)` returns scores (higher = predicted faster; only their order is meaningful).
Models are saved as XGBoost JSON (no pickle). Training is single-threaded and seeded, so a
tuning run is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

PARAMS = {
    "objective": "rank:pairwise",
    "eta": 0.2,
    "max_depth": 6,
    "min_child_weight": 1,
    "subsample": 1.0,
    "lambda": 1.0,
    "nthread": 1,
    "verbosity": 0,
    "tree_method": "hist",
}


class XgbCostModel:
    def __init__(self, rounds: int = 80, seed: int = 0, objective: str = "rank:pairwise") -> None:
        self.rounds = rounds
        self.params = dict(PARAMS, seed=seed, objective=objective)
        self.booster: xgb.Booster | None = None

    @property
    def trained(self) -> bool:
        return self.booster is not None

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> XgbCostModel:
        """Train on rows `x` with labels `y`; rows are compared only within a group id."""
        order = np.argsort(groups, kind="stable")
        x, y, groups = x[order], y[order], groups[order]
        _, counts = np.unique(groups, return_counts=True)
        dm = xgb.DMatrix(x, label=y)
        dm.set_group(counts)
        self.booster = xgb.train(self.params, dm, num_boost_round=self.rounds)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("cost model: predict before fit")
        return self.booster.predict(xgb.DMatrix(x))

    def save(self, path: str | Path) -> None:
        """Save as XGBoost JSON (`.json`) or UBJSON (`.ubj`); never pickle."""
        if self.booster is None:
            raise RuntimeError("cost model: nothing to save (not trained)")
        self.booster.save_model(str(path))

    @classmethod
    def load(cls, path: str | Path) -> XgbCostModel:
        m = cls()
        m.booster = xgb.Booster()
        m.booster.load_model(str(path))
        return m


def topk_score(pred: np.ndarray, util: np.ndarray, k: int) -> float:
    """TenSet's top-k score of one task: best true utilization among the k points ranked
    highest by the model ÷ the best true utilization of all points."""
    top = np.argsort(-pred, kind="stable")[:k]
    return float(util[top].max() / util.max())
