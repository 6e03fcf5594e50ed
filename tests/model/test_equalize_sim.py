"""A MobileNetV3-style block compiled with the accuracy defaults of docs/quantization.md
(depthwise input equalization, squeeze-excite convs float) co-runs bit-exactly on hw_sim."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.graph.executor import run_graph
from runtime.executor import Executor, compare_integer_values, reference_values
from tests.graph.test_equalize import _se_block
from tests.model.helpers import samples

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("seed", [0, 3])
def test_equalized_se_block_is_bit_exact_on_hw_sim(cfg, seed):
    g = _se_block(np.random.default_rng(seed), classifier=False)
    model = compile_model(g, cfg, samples(g, 3, seed=seed), quant_options={"equalize": True})
    assert {"c0", "dw", "c3"} <= {la.name for la in model.accel_launches()}
    kept = model.meta["quant"]["kept_float"]
    assert set(kept) == {"se1", "se2"}
    feed = samples(g, 1, seed=seed + 10)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    out, want = res.outputs[g.outputs[0]], run_graph(g, feed)[g.outputs[0]]
    assert np.linalg.norm(out - want) <= 0.1 * np.linalg.norm(want)
