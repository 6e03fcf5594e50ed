"""fold_batchnorm: before/expected pairs and numerical checks."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.fold_batchnorm import fold_batchnorm
from tests.graph.helpers import assert_equivalent, ops


def _bn_params(b, rng, c):
    return [
        b.const("gamma", rng.uniform(0.5, 1.5, c).astype(np.float32)),
        b.const("beta", rng.standard_normal(c).astype(np.float32)),
        b.const("mean", rng.standard_normal(c).astype(np.float32)),
        b.const("var", rng.uniform(0.5, 1.5, c).astype(np.float32)),
    ]


def test_conv_bn_folds_into_conv_with_bias(rng):
    b = GraphBuilder("g")
    x = b.input("x", (2, 3, 8, 8))
    w = b.const("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    y = b.op("Conv", [x, w], pads=(1, 1, 1, 1), name="conv")
    y = b.op("BatchNormalization", [y, *_bn_params(b, rng, 4)], epsilon=1e-3, name="bn")
    b.output(b.op("Relu", [y]))
    before = b.build()
    after = fold_batchnorm(before)
    assert ops(after) == ["Conv", "Relu"]
    conv = after.nodes[0]
    assert conv.name == "conv" and len(conv.inputs) == 3
    assert_equivalent(before, after, rng, rtol=1e-4, atol=1e-4)


def test_gemm_bn_folds_for_both_weight_layouts(rng):
    for trans_b in (0, 1):
        b = GraphBuilder("g")
        x = b.input("x", (5, 6))
        shape = (7, 6) if trans_b else (6, 7)
        w = b.const("w", rng.standard_normal(shape).astype(np.float32))
        c = b.const("c", rng.standard_normal(7).astype(np.float32))
        y = b.op("Gemm", [x, w, c], transB=trans_b)
        b.output(b.op("BatchNormalization", [y, *_bn_params(b, rng, 7)]))
        before = b.build()
        after = fold_batchnorm(before)
        assert ops(after) == ["Gemm"]
        assert_equivalent(before, after, rng, rtol=1e-4, atol=1e-4)


def test_bn_stays_when_conv_output_has_another_use(rng):
    b = GraphBuilder("g")
    x = b.input("x", (1, 2, 4, 4))
    y = b.op("Conv", [x, b.const("w", rng.standard_normal((2, 2, 1, 1)).astype(np.float32))])
    z = b.op("BatchNormalization", [y, *_bn_params(b, rng, 2)])
    b.output(z, y)
    before = b.build()
    assert ops(fold_batchnorm(before)) == ["Conv", "BatchNormalization"]


def test_bn_after_non_conv_stays(rng):
    b = GraphBuilder("g")
    x = b.input("x", (1, 2, 4, 4))
    y = b.op("Relu", [x])
    b.output(b.op("BatchNormalization", [y, *_bn_params(b, rng, 2)]))
    assert ops(fold_batchnorm(b.build())) == ["Relu", "BatchNormalization"]
