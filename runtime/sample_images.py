"""Real photographs for calibration and evaluation: the ones `scikit-image` ships in
`skimage/data` (read from the installed package, no network), split into a fixed calibration set
and a disjoint evaluation set, and each model's preprocessing, stated once per model.

The split (20 photographs; synthetic test patterns such as `chessboard`, `color`, `logo`,
`phantom` and the `horse` silhouette are left out): both halves mix colour and grayscale
pictures, natural scenes, textures, microscopy/astronomy and printed text (for the OCR models),
and the stereo pair `motorcycle_left`/`motorcycle_right` sits on one side so that no evaluation
image is a near-copy of a calibration image.

Preprocessing (`PREPROCESS`, chosen per model by `preprocess_for`):
- `imagenet` (the classifiers, built-in ResNet-18): RGB, resize the shorter side to 256/224 of
  the input size, centre crop to H x W, scale to [0, 1], normalise with the ImageNet mean/std
  (torchvision's convention). Grayscale photos are replicated to three channels.
- `ppocr_det`: PP-OCR's `DetResizeForTest` + `NormalizeImage` as RapidOCR runs them: the image
  in OpenCV's BGR order, resized to H x W (a multiple of 32), scaled to [0, 1] and normalised
  with the ImageNet mean/std (applied to the BGR planes, as PaddleOCR does).
- `ppocr_cls`: PP-OCR's `ClsResizeImg`: a text-line-shaped centre crop (aspect W/H) resized to
  H x W, BGR, (x / 255 - 0.5) / 0.5.
- `unit`: RGB (or gray for one-channel inputs), resized to H x W, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.inputs import IMAGENET_MEAN, IMAGENET_STD, InputFileError

SET_NAME = "skimage"  # `vtac compile --calib skimage`
CALIBRATION_IMAGES = (
    "astronaut.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png", "camera.png",
    "brick.png", "coins.png", "hubble_deep_field.jpg", "page.png", "ihc.png",
)  # fmt: skip
EVALUATION_IMAGES = (
    "chelsea.png", "rocket.jpg", "moon.png", "grass.png", "gravel.png", "retina.jpg",
    "cell.png", "text.png", "microaneurysms.png", "clock_motion.png",
)  # fmt: skip


@dataclass(frozen=True)
class Preprocess:
    """How one model wants its image: channel order, crop, scaling."""

    name: str
    bgr: bool = False  # channel order of 3-channel inputs
    crop: str = "resize"  # "resize" (to H x W), "center" (shorter side to 256/224 of H, crop)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # after scaling to [0, 1]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


_IMNET = dict(mean=tuple(IMAGENET_MEAN.tolist()), std=tuple(IMAGENET_STD.tolist()))
PREPROCESS = {
    "imagenet": Preprocess("imagenet", crop="center", **_IMNET),
    "ppocr_det": Preprocess("ppocr_det", bgr=True, crop="resize", **_IMNET),
    "ppocr_cls": Preprocess(
        "ppocr_cls", bgr=True, crop="center_aspect", mean=(0.5,) * 3, std=(0.5,) * 3
    ),  # fmt: skip
    "unit": Preprocess("unit"),
}
# Model (file stem or graph name) -> preprocessing; other 3-channel models get `imagenet`.
MODEL_PREPROCESS = {"ppocr_det": "ppocr_det", "ppocr_cls": "ppocr_cls"}


def preprocess_for(model: str, channels: int = 3) -> Preprocess:
    """The preprocessing of a model named `model` (a path's stem counts) with `channels`."""
    stem = Path(model).stem
    if stem in MODEL_PREPROCESS:
        return PREPROCESS[MODEL_PREPROCESS[stem]]
    return PREPROCESS["imagenet" if channels == 3 else "unit"]


def image_dir() -> Path:
    """`skimage/data` of the installed scikit-image (found without importing skimage)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.origin:
        raise InputFileError(f"--calib {SET_NAME}: scikit-image is not installed "
                             "(pip install scikit-image==0.26.0)")  # fmt: skip
    return Path(spec.origin).parent / "data"


def image_paths(split: str) -> list[Path]:
    """The photographs of `split` ("calibration" or "evaluation")."""
    names = {"calibration": CALIBRATION_IMAGES, "evaluation": EVALUATION_IMAGES}.get(split)
    if names is None:
        raise ValueError(f"image split {split!r} is not 'calibration' or 'evaluation'")
    base = image_dir()
    paths = [base / n for n in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise InputFileError(f"{base}: missing sample image(s) {', '.join(missing)}")
    return paths


def _crop_box(w: int, h: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred box of width/height `aspect` inside a w x h image."""
    if w / h > aspect:
        cw, ch = round(h * aspect), h
    else:
        cw, ch = w, round(w / aspect)
    left, top = (w - cw) // 2, (h - ch) // 2
    return left, top, left + cw, top + ch


def preprocess_image(path: Path, shape: tuple[int, ...], pre: Preprocess) -> np.ndarray:
    """One photograph as a float32 [N, C, H, W] tensor (the sample repeated over the batch)."""
    from PIL import Image

    if len(shape) != 4 or shape[1] not in (1, 3):
        raise InputFileError(f"{path}: an image can feed an N x 1|3 x H x W input, not {shape}")
    n, c, h, w = shape
    with Image.open(path) as im:
        im = im.convert("RGB" if c == 3 else "L")
        if pre.crop == "center":  # torchvision: Resize(256) + CenterCrop(224), scaled to H x W
            short = round(min(h, w) * 256 / 224)
            s = short / min(im.size)
            im = im.resize((max(w, round(im.size[0] * s)), max(h, round(im.size[1] * s))),
                           Image.BILINEAR)  # fmt: skip
            left, top = (im.size[0] - w) // 2, (im.size[1] - h) // 2
            im = im.crop((left, top, left + w, top + h))
        else:
            if pre.crop == "center_aspect":
                im = im.crop(_crop_box(*im.size, w / h))
            im = im.resize((w, h), Image.BILINEAR)
        x = np.asarray(im, np.float32).reshape(h, w, -1) / 255.0
    if c == 3 and pre.bgr:
        x = x[..., ::-1]
    x = x.transpose(2, 0, 1)
    mean = np.asarray(pre.mean[:c], np.float32)[:, None, None]
    std = np.asarray(pre.std[:c], np.float32)[:, None, None]
    x = np.ascontiguousarray(((x - mean) / std)[None], np.float32)
    return np.repeat(x, n, axis=0) if n > 1 else x


def sample_set(
    split: str,
    inputs: Mapping[str, tuple[tuple[int, ...], str]],
    model: str = "",
    pre: Preprocess | None = None,
) -> list[dict[str, np.ndarray]]:
    """The `split` photographs as samples for a one-image-input model `model`."""
    names = list(inputs)
    if len(names) != 1:
        raise InputFileError(f"--calib {SET_NAME}: the sample images feed a one-input model; "
                             f"this one has inputs {', '.join(names)}")  # fmt: skip
    shape, dtype = inputs[names[0]]
    if np.dtype(dtype).kind != "f":
        raise InputFileError(f"--calib {SET_NAME}: input {names[0]} is {dtype}, not float")
    pre = pre or preprocess_for(model, shape[1] if len(shape) == 4 else 3)
    return [
        {names[0]: preprocess_image(p, tuple(shape), pre).astype(dtype)} for p in image_paths(split)
    ]
