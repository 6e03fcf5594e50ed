"""How far int8 outputs are from the float model's: one set of measures for `vtac run` and the
accuracy benchmark (`scripts/bench_quant.py`).

Each takes lists of per-image arrays (got, want), so a benchmark over many images and a single
run share the code:
- `rel_l2`: ||got - want|| / ||want|| over all images (the absolute norm when want is 0);
- `top1_agreement`: share of images whose argmax agrees — for classifier outputs
  (`is_classifier`: 2..MAX_CLASSES values per image);
- `map_iou`: for a probability map (values in [0, 1], more than MAX_CLASSES per image, e.g. a
  text detector's sigmoid), the IoU of the binarized maps. Its relative L2 is dominated by the
  near-zero background and says little about the detections; the IoU of what a detector's
  post-processing would keep does.
"""

from __future__ import annotations

import numpy as np

MAX_CLASSES = 1000  # an output with 2..1000 values per image counts as a classifier's
MAP_THRESHOLD = 0.3  # PaddleOCR DB post-processing's binarization threshold (det_db_thresh)


def rel_l2(got, want) -> float:
    """Of two arrays, or of two lists of same-shape per-image arrays."""
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    norm = float(np.linalg.norm(w))
    return float(np.linalg.norm(g - w)) / norm if norm else float(np.linalg.norm(g - w))


def is_classifier(value: np.ndarray) -> bool:
    """Whether one image's output looks like class scores."""
    return 1 < value.size <= MAX_CLASSES


def top1_agreement(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    agree = [int(np.argmax(g.reshape(-1)) == np.argmax(w.reshape(-1)))
             for g, w in zip(got, want, strict=True)]  # fmt: skip
    return float(np.mean(agree))


def map_iou(got: list[np.ndarray], want: list[np.ndarray]) -> dict | None:
    """{"iou", "float_above"} of a probability map binarized at MAP_THRESHOLD over all images
    (float_above: the float map's share above it); None for other values."""
    w = np.stack(want)
    if w.size // len(want) <= MAX_CLASSES or w.min() < 0 or w.max() > 1:
        return None
    fw, fg = w > MAP_THRESHOLD, np.stack(got) > MAP_THRESHOLD
    union = int(np.count_nonzero(fw | fg))
    iou = float(np.count_nonzero(fw & fg)) / union if union else 1.0
    return {"iou": iou, "float_above": float(np.mean(fw))}
