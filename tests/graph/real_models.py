"""Real ONNX models from the local cache (`scripts/fetch_models.py`): where they are, the
input shapes their symbolic dimensions get, and the comparison with onnxruntime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# What the benchmarks compare (outputs + final logits): the compiler's own choice (quant/compare.py)
from compiler.graph.quant.compare import comparison_points, final_activation  # noqa: F401

# Static shapes for models with symbolic input dimensions (PP-OCR: any H, W multiple of 32).
INPUT_SHAPES = {
    "ppocr_det": {"x": (1, 3, 320, 320)},
    "ppocr_cls": {"x": (1, 3, 48, 192)},
}
# Layers the benchmarks keep in float (`keep_float`, `--keep-float`), with why. PP-OCR-cls's
# 2x1-strided depthwise convs (issue 12): all four int8 take the logits' error vs the float
# model (bench_quant, skimage photos) from 40.5 % to 52 %; Conv@13 (5x5, 1.4 % of the MACs;
# 18 dB SQNR from the power-of-two scales of its HardSwish input and BN output) is most of it
# and Conv@2 (the first, 8 channels, 0.5 %) the next: with both float, 31 %, and 98.1 % of the
# MACs stay on the accelerator (docs/model.md, "the last four under 98 %"). Since squeeze-excite
# gates stay float by default (0.34 % of cls's MACs, quant/squeeze_excite.py), Conv@13 alone:
# 31.1 % (Conv@2 too: 31.5 % with int8 gates), 98.2 % on the accelerator (2026-12-07).
KEEP_FLOAT = {"ppocr_cls": ("Conv@13",)}
REL_TOL = 1e-4


def model_cache() -> Path:
    env = os.environ.get("VTAC_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vtac" / "models"


def cached_models() -> list[Path]:
    cache = model_cache()
    return sorted(cache.glob("light/*.onnx")) + sorted(cache.glob("ppocr/*.onnx"))


def model_inputs(graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # Image-like inputs in [0, 1) as after the usual normalization.
    return {
        n: rng.uniform(0, 1, graph.types[n].shape).astype(graph.types[n].dtype)
        for n in graph.inputs
    }


# onnxruntime computes these with a fast approximation whose absolute error (about 1.3e-7 for
# its logistic; ours: 5e-10) is a large relative error on outputs that are all tiny.
APPROXIMATED_BY_ONNXRUNTIME = ("Sigmoid",)


def judged_by_logits(graph) -> set[str]:
    """Graph outputs produced by an activation onnxruntime approximates (compare their logits)."""
    out = set()
    for name in graph.outputs:
        node = final_activation(graph, name)
        if node is not None and node.op in APPROXIMATED_BY_ONNXRUNTIME:
            out.add(name)
    return out


def onnxruntime_values(model_proto, names: list[str], feeds) -> dict[str, np.ndarray]:
    """Run onnxruntime on `model_proto`, returning the named values (outputs added as needed)."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model_proto)
    existing = {o.name for o in m.graph.output}
    for n in names:
        if n not in existing:
            m.graph.output.append(onnx.ValueInfoProto(name=n))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    wanted = [o.name for o in sess.get_outputs()]
    values = dict(zip(wanted, sess.run(None, feeds), strict=True))
    return {n: values[n] for n in names}


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (0 when both are all zero)."""
    scale = float(np.abs(want).max()) if want.size else 0.0
    diff = (
        float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if want.size else 0.0
    )
    return diff / scale if scale else diff
