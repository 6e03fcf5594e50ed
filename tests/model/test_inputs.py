"""Inputs from files: arrays, archives, images, folders; errors name the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from runtime.inputs import InputFileError, load_image, load_samples, synthetic_samples

ONE = {"x": ((1, 3, 8, 10), "float32")}


def test_npy_npz_and_folders(tmp_path, rng):
    a = rng.standard_normal((4, 1, 3, 8, 10)).astype(np.float32)
    np.save(tmp_path / "stack.npy", a)
    got = load_samples(tmp_path / "stack.npy", ONE)
    assert len(got) == 4 and np.array_equal(got[2]["x"], a[2])
    np.savez(tmp_path / "named.npz", x=a[0])
    assert np.array_equal(load_samples(tmp_path / "named.npz", ONE)[0]["x"], a[0])
    two = {"x": ((1, 3, 8, 10), "float32"), "y": ((1, 2), "float32")}
    np.savez(tmp_path / "two.npz", x=a[:2], y=np.zeros((2, 1, 2), np.float32))
    pair = load_samples(tmp_path / "two.npz", two)
    assert len(pair) == 2 and set(pair[1]) == {"x", "y"}
    d = tmp_path / "dir"
    d.mkdir()
    np.save(d / "a.npy", a[0])
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(d / "b.png")
    assert len(load_samples(d, ONE)) == 2


def test_image_resize_and_normalization(tmp_path):
    Image.fromarray(np.full((20, 30, 3), 255, np.uint8)).save(tmp_path / "w.png")
    x = load_image(tmp_path / "w.png", (1, 3, 8, 10), "unit")
    assert x.shape == (1, 3, 8, 10) and x.dtype == np.float32 and np.allclose(x, 1.0)
    y = load_image(tmp_path / "w.png", (1, 3, 8, 10), "imagenet")
    assert np.allclose(y[0, 0], (1 - 0.485) / 0.229, atol=1e-5)
    g = load_image(tmp_path / "w.png", (2, 1, 4, 4), "imagenet")  # grayscale, batch repeated
    assert g.shape == (2, 1, 4, 4) and np.allclose(g, 1.0)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match="nope.npy: no such file"):
        load_samples(tmp_path / "nope.npy", ONE)
    np.save(tmp_path / "bad.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(InputFileError, match=r"bad.npy: array of shape \(2, 2\); the input takes"):
        load_samples(tmp_path / "bad.npy", ONE)
    (tmp_path / "fake.png").write_bytes(b"nope")
    with pytest.raises(InputFileError, match="fake.png: not a readable image"):
        load_samples(tmp_path / "fake.png", ONE)
    (tmp_path / "e").mkdir()
    with pytest.raises(InputFileError, match="no .npy, .npz or image files"):
        load_samples(tmp_path / "e", ONE)
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(InputFileError, match="t.txt: not an .npy"):
        load_samples(tmp_path / "t.txt", ONE)
    np.savez(tmp_path / "w.npz", z=np.zeros((1, 2), np.float32))
    two = {"x": ((1, 3, 8, 10), "float32"), "y": ((1, 2), "float32")}
    with pytest.raises(InputFileError, match="no array for input"):
        load_samples(tmp_path / "w.npz", two)


def test_synthetic_samples_are_seeded():
    a, b = synthetic_samples(ONE, 2, seed=3), synthetic_samples(ONE, 2, seed=3)
    assert np.array_equal(a[1]["x"], b[1]["x"]) and not np.array_equal(a[0]["x"], a[1]["x"])


def test_auto_preprocessing_is_the_models_own(tmp_path):
    from runtime.inputs import preprocessing_name

    assert preprocessing_name("auto", "/models/ppocr_det.onnx", 3) == "ppocr_det"
    assert preprocessing_name("auto", "resnet18", 3) == "imagenet"
    assert preprocessing_name("auto", "mnist.onnx", 1) == "unit"
    assert preprocessing_name("unit", "/models/ppocr_det.onnx", 3) == "unit"
    im = np.zeros((20, 30, 3), np.uint8)
    im[..., 0] = 255  # red
    Image.fromarray(im).save(tmp_path / "red.png")
    rgb = load_image(tmp_path / "red.png", (1, 3, 8, 8), "imagenet")
    bgr = load_image(tmp_path / "red.png", (1, 3, 8, 8), "ppocr_det")
    assert rgb[0, 0].min() > 2 and bgr[0, 2].min() > 2  # PaddleOCR reads BGR
    with pytest.raises(ValueError, match="'sepia' is not one of imagenet"):
        load_image(tmp_path / "red.png", (1, 3, 8, 8), "sepia")
