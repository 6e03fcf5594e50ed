"""Real models (ONNX light model zoo, PP-OCR det/cls) against onnxruntime, and quantized.

Needs the model cache filled by `scripts/fetch_models.py`; skips with the reason otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend.onnx_import import default_opset, import_onnx, load_model, upgrade_opset
from compiler.graph.executor import run_graph
from compiler.graph.passes.partition import partition_report
from compiler.graph.pipeline import compile_for_accel, optimize
from compiler.graph.quant.report import quantization_error, render_quant_report
from compiler.graph.verifier import verify
from hw_sim.config import load_config
from tests.graph.real_models import (
    INPUT_SHAPES,
    REL_TOL,
    cached_models,
    comparison_points,
    judged_by_logits,
    model_cache,
    model_inputs,
    onnxruntime_values,
    relative_error,
)

pytestmark = pytest.mark.models
MODELS = cached_models()
if not MODELS:
    pytestmark = [
        pytest.mark.models,
        pytest.mark.skip(
            reason=f"model cache {model_cache()} is empty: run scripts/fetch_models.py "
            "(or set VTAC_MODEL_CACHE)"
        ),
    ]
    MODELS = [None]


def _load(path):
    model, _ = load_model(path)
    if default_opset(model) < 11:
        model = upgrade_opset(model)
    graph = import_onnx(model, shapes=INPUT_SHAPES.get(path.stem, {}))
    return model, graph


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem if p else "none")
def test_reference_execution_matches_onnxruntime(path):
    model, graph = _load(path)
    verify(graph)
    feeds = model_inputs(graph, np.random.default_rng(0))
    points = comparison_points(graph)
    ours = run_graph(graph, feeds, keep_all=True)
    theirs = onnxruntime_values(model, points, feeds)
    approximated = judged_by_logits(graph)
    for name in points:
        if name in approximated:
            continue  # see comparison_points: its logits are among the points
        err = relative_error(ours[name], theirs[name])
        assert err <= REL_TOL, f"{path.stem} {name}: relative error {err:.2e}"
    # The optimized graph computes the same.
    opt = optimize(graph)
    verify(opt)
    opt_out = run_graph(opt, feeds, keep_all=True)
    for name in points:
        if name in opt_out:
            assert relative_error(opt_out[name], ours[name]) <= REL_TOL


@pytest.mark.parametrize("path", [p for p in MODELS if p is None or "ppocr" in p.stem or
                                  "resnet50" in p.stem or "squeezenet" in p.stem],
                         ids=lambda p: p.stem if p else "none")  # fmt: skip
def test_quantized_model_reports_its_error(path):
    _, graph = _load(path)
    rng = np.random.default_rng(1)
    samples = [model_inputs(graph, rng) for _ in range(3)]
    result = compile_for_accel(graph, load_config("default"), samples[:2], verify_each=False)
    verify(result.graph)
    errors = quantization_error(result.float_graph, result.graph, samples[2:])
    report = render_quant_report(result.plan, errors)
    assert "relative L2 error" in report
    assert all(np.isfinite(e.rel_l2) for e in errors)
    assert partition_report(result.graph).accel_macs > 0
