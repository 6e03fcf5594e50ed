"""Model inputs from files: `.npy`, `.npz` and images, for `vtac run --input` and
`vtac compile --calib`.

- `.npy`: one array; its shape is the input's, or has one more leading axis (several samples).
- `.npz`: arrays named after the model's inputs (one sample, or a leading sample axis), or, for a
  one-input model, any names: each array is a sample (or a stack of samples).
- images (`.png`, `.jpg`, `.jpeg`, `.bmp`, `.tif`, `.tiff`): decoded with Pillow and
  preprocessed by one of the presets of `runtime.sample_images.PREPROCESS` (`norm`: `imagenet`
  = torchvision's resize + centre crop + ImageNet mean/std, `unit` = resized to H x W in [0, 1],
  `ppocr_det`, `ppocr_cls` = PaddleOCR's), as float32 NCHW; `preprocessing_name` picks the
  model's own preset for `norm="auto"` (the CLI's default).
- a directory: every such file in it, sorted by name.
Errors name the file and what is wrong (`InputFileError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


class InputFileError(ValueError):
    """An input or calibration file that is missing, unreadable or of the wrong shape."""


def preprocessing_name(norm: str, model: str, channels: int) -> str:
    """The image preset `norm` names; "auto": the one of a model named `model` (a path's stem
    counts; `runtime.sample_images.preprocess_for`)."""
    from runtime.sample_images import preprocess_for

    return preprocess_for(model, channels).name if norm == "auto" else norm


def load_image(path: Path, shape: tuple[int, ...], norm: str = "imagenet") -> np.ndarray:
    """One image as a float32 [N, C, H, W] tensor for an input of `shape` (N, C, H, W),
    preprocessed by the preset `norm` (`runtime.sample_images.PREPROCESS`)."""
    from PIL import UnidentifiedImageError

    from runtime.sample_images import PREPROCESS, preprocess_image

    if norm not in PREPROCESS:
        raise ValueError(f"image preprocessing {norm!r} is not one of {', '.join(PREPROCESS)}")
    if norm == "imagenet" and len(shape) == 4 and shape[1] == 1:
        norm = "unit"  # ImageNet's mean/std are per colour channel: a gray input stays in [0, 1]
    try:
        return preprocess_image(path, tuple(shape), PREPROCESS[norm])
    except (UnidentifiedImageError, OSError) as e:
        raise InputFileError(f"{path}: not a readable image ({e})") from None


def _samples_of(path: Path, a: np.ndarray, shape: tuple[int, ...], dtype: str) -> list[np.ndarray]:
    if tuple(a.shape) == tuple(shape):
        out = [a]
    elif a.ndim == len(shape) + 1 and tuple(a.shape[1:]) == tuple(shape):
        out = list(a)
    else:
        raise InputFileError(f"{path}: array of shape {a.shape}; the input takes {tuple(shape)} "
                             f"(or a stack of them)")  # fmt: skip
    if not np.can_cast(a.dtype, dtype, "same_kind"):
        raise InputFileError(f"{path}: array of dtype {a.dtype}; the input takes {dtype}")
    return [np.ascontiguousarray(s, dtype) for s in out]


def _load_npy(path: Path):
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputFileError(f"{path}: not a readable NumPy file ({e})") from None


def load_samples(
    path: str | Path, inputs: Mapping[str, tuple[tuple[int, ...], str]], norm: str = "imagenet"
) -> list[dict[str, np.ndarray]]:
    """Samples (one dict of arrays per sample) for inputs {name: (shape, dtype)}."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES | {".npy", ".npz"})  # fmt: skip
        if not files:
            raise InputFileError(f"{path}: no .npy, .npz or image files in this directory")
        return [s for f in files for s in load_samples(f, inputs, norm)]
    names = list(inputs)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        if len(names) != 1:
            raise InputFileError(f"{path}: an image feeds one input; the model has {len(names)}")
        return [{names[0]: load_image(path, inputs[names[0]][0], norm)}]
    if suffix not in (".npy", ".npz"):
        raise InputFileError(f"{path}: not an .npy, .npz or image file")
    data = _load_npy(path)
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise InputFileError(f"{path}: one array for a model with inputs {', '.join(names)}; "
                                 "use an .npz with one array per input")  # fmt: skip
        shape, dtype = inputs[names[0]]
        return [{names[0]: s} for s in _samples_of(path, data, shape, dtype)]
    if set(names) <= set(data):
        per = {n: _samples_of(path, data[n], *inputs[n]) for n in names}
        counts = {len(v) for v in per.values()}
        if len(counts) != 1:
            raise InputFileError(f"{path}: inputs have different sample counts {sorted(counts)}")
        return [{n: per[n][i] for n in names} for i in range(counts.pop())]
    if len(names) == 1:
        shape, dtype = inputs[names[0]]
        return [{names[0]: s} for k in data for s in _samples_of(path, data[k], shape, dtype)]
    missing = [n for n in names if n not in data]
    raise InputFileError(f"{path}: no array for input(s) {', '.join(missing)}")


def synthetic_samples(
    inputs: Mapping[str, tuple[tuple[int, ...], str]], count: int, seed: int = 0
) -> list[dict[str, np.ndarray]]:
    """Standard-normal float inputs (what normalized images look like to a first layer)."""
    rng = np.random.default_rng(seed)
    return [
        {n: rng.standard_normal(shape).astype(dtype) for n, (shape, dtype) in inputs.items()}
        for _ in range(count)
    ]
