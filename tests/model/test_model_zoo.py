"""Real models of the model cache compiled whole and co-run on hw_sim: bit-exact integer path,
outputs close to onnxruntime's. Skips with the reason when `scripts/fetch_models.py` has not run."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.frontend.onnx_import import import_onnx
from hw_sim.config import load_config
from runtime.executor import Executor, compare_integer_values, launch_mismatches, reference_values
from tests.graph.real_models import INPUT_SHAPES, KEEP_FLOAT, model_cache, model_inputs

pytestmark = [pytest.mark.models, pytest.mark.sim]
# Small enough for the suite: a classifier with real weights and a light-zoo CNN.
CHOSEN = ("ppocr/ppocr_cls.onnx", "light/light_squeezenet.onnx")


@pytest.mark.parametrize("rel", CHOSEN)
def test_real_model_co_runs_bit_exactly(rel):
    path = model_cache() / rel
    if not path.exists():
        pytest.skip(f"{path} not cached: run scripts/fetch_models.py")
    g = import_onnx(path, shapes=INPUT_SHAPES.get(path.stem, {}))
    rng = np.random.default_rng(3)
    keep = {"keep_float": list(KEEP_FLOAT.get(path.stem, ()))}  # as the benchmarks compile it
    calib = [model_inputs(g, rng) for _ in range(2)]
    model = compile_model(g, load_config("default"), calib, quant_options=keep)
    assert model.accel_launches()
    for f in model.meta["fallbacks"]:  # what falls back says why
        assert "stride" in f["reason"] or "kernel" in f["reason"], f
    feed = model_inputs(g, rng)
    res = Executor(model).run(feed, keep_values=True)
    assert launch_mismatches(model, res.values) == []
    e2e = compare_integer_values(res.values, reference_values(model, feed))
    # Float products, quotients and reductions on the CPU (PP-OCR-cls's HardSwish / SE scale
    # and its 12x96 global pool) may round an ulp apart from NumPy's before they are quantized.
    float_math = {"Conv", "Mul", "Div", "HardSigmoid", "GlobalAveragePool", "AveragePool"}
    has_float_cpu_math = any(n.op in float_math for la in model.cpu_launches() for n in la.nodes)
    assert has_float_cpu_math or e2e == []  # end to end only where CPU float math interferes
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed), strict=True))
    for k, v in res.outputs.items():
        assert v.shape == ref[k].shape
        if path.stem == "ppocr_cls":  # softmax over two classes: the predicted class agrees
            assert np.array_equal(v.argmax(-1), ref[k].argmax(-1))
