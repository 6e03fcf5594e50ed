"""The accuracy measures shared by `vtac run` and the benchmarks (`runtime/accuracy.py`)."""

from __future__ import annotations

import numpy as np

from runtime.accuracy import MAP_THRESHOLD, is_classifier, map_iou, rel_l2, top1_agreement


def test_rel_l2_of_arrays_and_of_image_lists_agree():
    rng = np.random.default_rng(0)
    w = [rng.standard_normal((3, 4)) for _ in range(2)]
    g = [x + 0.01 * rng.standard_normal(x.shape) for x in w]
    whole = rel_l2(np.stack(g), np.stack(w))
    assert rel_l2(g, w) == whole
    assert 0.005 < whole < 0.02
    assert rel_l2(np.ones(3), np.zeros(3)) == np.sqrt(3)  # want 0: the absolute norm


def test_top1_agreement_counts_images_whose_argmax_agrees():
    want = [np.array([0.1, 0.9]), np.array([0.8, 0.2])]
    got = [np.array([0.2, 0.7]), np.array([0.1, 0.3])]
    assert top1_agreement(got, want) == 0.5
    assert is_classifier(want[0]) and not is_classifier(np.zeros((1, 1, 40, 40)))


def test_map_iou_of_binarized_probability_maps():
    want = np.zeros((1, 1, 40, 40))
    want[0, 0, :10] = 0.9  # 400 pixels above the threshold
    got = want.copy()
    got[0, 0, :5] = MAP_THRESHOLD / 2  # half of them lost
    got[0, 0, 30:35] = 0.5  # and 200 found that are not there
    m = map_iou([got], [want])
    assert m == {"iou": 200 / 600, "float_above": 400 / 1600}
    assert map_iou([want], [want])["iou"] == 1.0
    assert map_iou([np.zeros(10)], [np.zeros(10)]) is None  # class scores, not a map
    assert map_iou([want * 3], [want * 3]) is None  # values above 1: not probabilities
