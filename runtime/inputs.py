"""Model inputs from files: `.npy`, `.npz` and images, for `vtac run --input` and
`vtac compile --calib`.

- `.npy`: one array; its shape is the input's, or has one more leading axis (several samples).
- `.npz`: arrays named after the model's inputs (one sample, or a leading sample axis), or, for a
  one-input model, any names: each array is a sample (or a stack of samples).
- images (`.png`, `.jpg`, `.jpeg`, `.bmp`, `.tif`, `.tiff`): decoded with Pillow, converted to
  RGB (or L for one-channel inputs), resized (bilinear) to the input's H x W, scaled to [0, 1] and
  normalized with the ImageNet mean and std (`norm="imagenet"`, torchvision's convention) or left
  in [0, 1] (`norm="unit"`), as float32 NCHW.
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


def load_image(path: Path, shape: tuple[int, ...], norm: str = "imagenet") -> np.ndarray:
    """One image as a float32 [1, C, H, W] tensor for an input of `shape` (N, C, H, W)."""
    from PIL import Image, UnidentifiedImageError

    if len(shape) != 4 or shape[1] not in (1, 3):
        raise InputFileError(f"{path}: an image can feed an N x 1|3 x H x W input, not {shape}")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if shape[1] == 3 else "L").resize(
                (shape[3], shape[2]), Image.BILINEAR
            )
            x = np.asarray(im, np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise InputFileError(f"{path}: not a readable image ({e})") from None
    x = x.reshape(shape[2], shape[3], -1).transpose(2, 0, 1)
    if norm == "imagenet" and shape[1] == 3:
        x = (x - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
    elif norm not in ("imagenet", "unit"):
        raise ValueError(f"image normalization {norm!r} is not 'imagenet' or 'unit'")
    x = np.ascontiguousarray(x[None], np.float32)
    return np.repeat(x, shape[0], axis=0) if shape[0] > 1 else x


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
