"""convtranspose_as_conv: before/expected pairs, float equivalence, and what stays."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.convtranspose_as_conv import convtranspose_as_conv, subpixel_problem
from tests.graph.helpers import assert_equivalent, ops


def _f32(rng, *shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("s,cin,cout", [(2, 6, 5), (3, 4, 3), (2, 3, 1)])
def test_subpixel_convtranspose_with_bias_add_bn_relu_becomes_one_conv(rng, s, cin, cout):
    """PP-OCR-det's head: ConvTranspose -> Add(bias) -> BatchNormalization -> Relu."""
    b = GraphBuilder("up", opset=13)
    x = b.input("x", (2, cin, 4, 5))
    w = b.const("w", _f32(rng, cin, cout, s, s))
    y = b.op("ConvTranspose", [x, w], name="up", kernel_shape=(s, s), strides=(s, s))
    y = b.op("Add", [y, b.const("bias", _f32(rng, 1, cout, 1, 1))], name="bias_add")
    params = [_f32(rng, cout) + 1, _f32(rng, cout), _f32(rng, cout), np.abs(_f32(rng, cout)) + 0.5]
    bn = [b.const(n, v) for n, v in zip(("g", "be", "m", "v"), params, strict=True)]
    y = b.op("BatchNormalization", [y, *bn], name="bn", epsilon=1e-5)
    b.output(b.op("Relu", [y], name="relu"))
    before = b.build()
    after = convtranspose_as_conv(before)
    assert ops(after) == ["Conv", "Relu", "Reshape", "Transpose", "Reshape"]
    conv = after.node("up")  # the conv keeps the layer's name (MAC counts, reports)
    assert after.types[conv.inputs[1]].shape == (cout * s * s, cin, 1, 1)
    assert after.types[conv.outputs[0]].shape == (2, cout * s * s, 4, 5)
    assert_equivalent(before, after, rng, rtol=1e-4, atol=1e-4)


def test_convtranspose_bias_input_and_no_epilogue(rng):
    b = GraphBuilder("up", opset=13)
    x = b.input("x", (1, 3, 3, 3))
    w, bias = b.const("w", _f32(rng, 3, 4, 2, 2)), b.const("b", _f32(rng, 4))
    y = b.op("ConvTranspose", [x, w, bias], name="up", kernel_shape=(2, 2), strides=(2, 2))
    b.output(b.op("Sigmoid", [y], name="sig"))
    before = b.build()
    after = convtranspose_as_conv(before)
    assert ops(after) == ["Conv", "Reshape", "Transpose", "Reshape", "Sigmoid"]
    assert_equivalent(before, after, rng)


def test_other_convtransposes_and_shared_values_stay(rng):
    b = GraphBuilder("keep", opset=13)
    x = b.input("x", (1, 4, 5, 5))
    w3 = b.const("w3", _f32(rng, 4, 4, 3, 3))
    k = b.op("ConvTranspose", [x, w3], name="k3s2", kernel_shape=(3, 3), strides=(2, 2),
             pads=(1, 1, 1, 1))  # fmt: skip
    w2 = b.const("w2", _f32(rng, 4, 4, 2, 2))
    up = b.op("ConvTranspose", [x, w2], name="up", kernel_shape=(2, 2), strides=(2, 2))
    # the ConvTranspose output is also read by the Mul: the Add cannot be folded into it
    a = b.op("Add", [up, b.const("c", _f32(rng, 1, 4, 1, 1))], name="add")
    b.output(k, b.op("Mul", [a, up], name="mul"))
    before = b.build()
    after = convtranspose_as_conv(before)
    assert "kernel (3, 3) != strides (2, 2)" in subpixel_problem(before.node("k3s2"), before)
    assert ops(after) == ["ConvTranspose", "Conv", "Reshape", "Transpose", "Reshape", "Add",
                          "Mul"]  # fmt: skip
    assert_equivalent(before, after, rng)
