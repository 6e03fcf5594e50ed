"""Test models built with onnx.helper (random, seeded weights): a ResNet-18 and small nets.

Only tests import this module; onnx stays out of the library outside the frontend.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, rng: np.random.Generator, opset: int) -> None:
        self.rng = rng
        self.nodes: list = []
        self.inits: list = []
        self.opset = opset
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def const(self, base: str, value: np.ndarray) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(value.astype(np.float32), n))
        return n

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower() + "_out")
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op.lower()), **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, bias: bool = False) -> str:
        fan_in = cin * k * k
        w = self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in)
        ins = [x, self.const("w", w)]
        if bias:
            ins.append(self.const("b", self.rng.standard_normal(cout) * 0.1))
        pad = k // 2
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        return self.node(
            "BatchNormalization",
            [
                x,
                self.const("gamma", r.uniform(0.5, 1.5, c)),
                self.const("beta", r.standard_normal(c) * 0.1),
                self.const("mean", r.standard_normal(c) * 0.1),
                self.const("var", r.uniform(0.5, 1.5, c)),
            ],
            epsilon=1e-5,
        )

    def model(self, x_shape, out: str, out_shape, name: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(x_shape))],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, list(out_shape))],
            self.inits,
        )
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def resnet18(
    seed: int = 0, image: int = 224, batch: int = 1, classes: int = 1000, width: int = 64
) -> onnx.ModelProto:
    """torchvision's ResNet-18 structure (conv-bn-relu, basic blocks, downsample 1x1 convs,
    global average pool, flatten, gemm) with random weights; `width`/`image` shrink it."""
    b = _Builder(np.random.default_rng(seed), opset=13)
    x = b.node("Relu", [b.bn(b.conv("input", 3, width, 7, 2), width)])
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = width
    for stage, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            y = b.node("Relu", [b.bn(b.conv(x, cin, cout, 3, stride), cout)])
            y = b.bn(b.conv(y, cout, cout, 3), cout)
            shortcut = x
            if stride != 1 or cin != cout:
                shortcut = b.bn(b.conv(x, cin, cout, 1, stride), cout)
            x = b.node("Relu", [b.node("Add", [y, shortcut])])
            cin = cout
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    w = b.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin)
    x = b.node(
        "Gemm",
        [x, b.const("fc_w", w), b.const("fc_b", b.rng.standard_normal(classes) * 0.1)],
        transB=1,
    )
    return b.model((batch, 3, image, image), x, (batch, classes), "resnet18")
