"""The XGBoost rank model: learns an order, saves as JSON (no pickle), TenSet top-k."""

from __future__ import annotations

import json

import numpy as np

from compiler.tune.cost_model import XgbCostModel, topk_score
from compiler.tune.features import FEATURE_NAMES, FeatureCache
from compiler.tune.space import VtaSpace
from tests.tune.fake import fake_cost, tiny_task


def _data():
    task = tiny_task()
    sp = VtaSpace(task)
    pts = sp.valid_points()
    x = FeatureCache(sp).matrix(pts)
    cost = np.array([fake_cost(task, sp.knobs(p)) for p in pts])
    return x, cost.min() / cost


def test_features_have_a_fixed_knob_free_width():
    x, _ = _data()
    assert x.shape[1] == len(FEATURE_NAMES) and np.isfinite(x).all()


def test_rank_model_learns_the_order_and_round_trips_as_json(tmp_path):
    x, y = _data()
    rng = np.random.default_rng(0)
    train = rng.permutation(len(y))[: len(y) // 3]
    m = XgbCostModel(rounds=40).fit(x[train], y[train], np.zeros(len(train), np.int64))
    pred = m.predict(x)
    assert topk_score(pred, y, 5) > 0.9
    assert np.corrcoef(np.argsort(np.argsort(pred)), np.argsort(np.argsort(y)))[0, 1] > 0.6
    path = tmp_path / "model.json"
    m.save(path)
    json.loads(path.read_text())  # plain JSON
    assert np.array_equal(XgbCostModel.load(path).predict(x), pred)


def test_topk_score():
    y = np.array([0.5, 1.0, 0.8])
    assert topk_score(np.array([3.0, 1.0, 2.0]), y, 1) == 0.5
    assert topk_score(np.array([3.0, 1.0, 2.0]), y, 2) == 0.8
