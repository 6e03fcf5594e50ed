"""What the automatic quantization choices compare (`compiler/graph/quant/compare.py`)."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.quant.compare import comparison_points, output_error


def _classifier(scale: float):
    b = GraphBuilder("cls", opset=13)
    x = b.input("x", (1, 4))
    w = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.0, 0.0]], np.float32)
    logits = b.op("MatMul", [x, b.const("w", np.float32(scale) * w)], out="logits")
    b.output(b.op("Softmax", [logits], out="prob"))
    return b.build()


def test_a_saturated_softmax_is_judged_by_its_logits():
    g = _classifier(1000.0)  # huge logits: the softmax is one-hot whatever int8 does
    assert comparison_points(g) == ["prob", "logits"]
    feeds = [{"x": np.array([[1.0, 0.2, 0.0, 0.0]], np.float32)}]
    off = _classifier(1010.0)  # the same classifier with a 1 % gain error
    err = output_error(g, off, feeds)
    np.testing.assert_allclose(err, 0.01, rtol=1e-4)  # the outputs alone would say 0
    assert output_error(g, g, feeds) == 0.0
