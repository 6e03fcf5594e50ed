"""The scikit-image photo sets: fixed, disjoint, and preprocessed per model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from runtime.inputs import InputFileError
from runtime.sample_images import (
    CALIBRATION_IMAGES,
    EVALUATION_IMAGES,
    PREPROCESS,
    image_paths,
    preprocess_for,
    preprocess_image,
    sample_set,
)


def test_sets_are_fixed_disjoint_real_files():
    assert len(CALIBRATION_IMAGES) == len(EVALUATION_IMAGES) == 10
    assert not set(CALIBRATION_IMAGES) & set(EVALUATION_IMAGES)
    # The stereo pair is one scene: both halves sit in the calibration set.
    assert {"motorcycle_left.png", "motorcycle_right.png"} <= set(CALIBRATION_IMAGES)
    for split in ("calibration", "evaluation"):
        paths = image_paths(split)
        assert all(p.is_file() and p.parent.name == "data" for p in paths)
    with pytest.raises(ValueError, match="split 'test'"):
        image_paths("test")


@pytest.mark.parametrize(
    "model, shape, pre",
    [
        ("resnet18", (1, 3, 224, 224), "imagenet"),
        ("/cache/ppocr/ppocr_det.onnx", (1, 3, 320, 320), "ppocr_det"),
        ("ppocr_cls", (1, 3, 48, 192), "ppocr_cls"),
        ("mnist", (2, 1, 28, 28), "unit"),
    ],
)
def test_per_model_preprocessing_shapes_and_ranges(model, shape, pre):
    assert preprocess_for(model, shape[1]).name == pre
    samples = sample_set("evaluation", {"x": (shape, "float32")}, model)
    assert len(samples) == len(EVALUATION_IMAGES)
    for s in samples:
        x = s["x"]
        assert x.shape == shape and x.dtype == np.float32 and np.isfinite(x).all()
    lo, hi = {"imagenet": (-2.2, 2.7), "ppocr_det": (-2.2, 2.7), "ppocr_cls": (-1, 1),
              "unit": (0, 1)}[pre]  # fmt: skip
    stack = np.stack([s["x"] for s in samples])
    assert lo - 1e-5 <= stack.min() and stack.max() <= hi + 1e-5
    assert stack.std() > 0.1  # real pictures, not a constant


def test_bgr_order_and_center_crop(tmp_path):
    img = np.zeros((40, 80, 3), np.uint8)
    img[..., 0] = 255  # pure red
    img[:, :20] = 0  # a black left border that the centre crop of a square input drops
    Image.fromarray(img).save(tmp_path / "red.png")
    rgb = preprocess_image(tmp_path / "red.png", (1, 3, 8, 8), PREPROCESS["unit"])
    assert np.allclose(rgb[0, 0, :, 4], 1.0) and np.allclose(rgb[0, 2], 0.0)
    bgr = preprocess_image(tmp_path / "red.png", (1, 3, 8, 8), PREPROCESS["ppocr_det"])
    assert bgr[0, 2].mean() > bgr[0, 0].mean()  # red is the last plane in BGR
    crop = preprocess_image(tmp_path / "red.png", (1, 3, 8, 8), PREPROCESS["imagenet"])
    red = (1 - 0.485) / 0.229
    assert np.allclose(crop[0, 0], red, atol=1e-4)  # the black border is cropped away


def test_sample_set_errors_name_the_problem():
    with pytest.raises(InputFileError, match="one-input model"):
        sample_set("calibration", {"a": ((1, 3, 8, 8), "float32"), "b": ((1, 2), "float32")})
    with pytest.raises(InputFileError, match="input x is int64"):
        sample_set("calibration", {"x": ((1, 3, 8, 8), "int64")})
    with pytest.raises(InputFileError, match=r"N x 1\|3 x H x W"):
        sample_set("calibration", {"x": ((1, 4, 8, 8), "float32")})
