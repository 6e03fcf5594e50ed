"""A small ShuffleNet-v1 stage for the tests: grouped 1x1 conv (+ReLU) -> channel shuffle ->
3x3 depthwise -> grouped 1x1 conv, joined to the input by Concat with an average pool (the
stride-2 unit) or by Sum (the residual unit), as in the ONNX model zoo's ShuffleNet."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder


def shuffle(b: GraphBuilder, x: str, n: int, c: int, h: int, groups: int, name: str) -> str:
    s1 = b.const(f"{name}.s1", np.array([n, groups, c // groups, h, h], np.int64))
    s2 = b.const(f"{name}.s2", np.array([n, c, h, h], np.int64))
    y = b.op("Reshape", [x, s1], name=f"{name}.reshape1")
    y = b.op("Transpose", [y], name=f"{name}.transpose", perm=(0, 2, 1, 3, 4))
    return b.op("Reshape", [y, s2], name=f"{name}.reshape2")


def shufflenet_unit_graph(
    seed: int = 0, cin: int = 12, mid: int = 24, image: int = 8, groups: int = 4, scale=1.0
):
    """Input (1, cin, image, image) -> stride-2 unit (out cin + mid... channels) -> residual
    unit; `scale` multiplies the residual unit's last conv weights (tiny: the residual add's
    exponents lie far apart)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("shufflenet_unit", opset=13)

    def conv(x, ci, co, k, name, group, stride=1, gain=1.0):
        w = rng.standard_normal((co, ci // group, k, k)) * np.sqrt(2.0 / (ci // group * k * k))
        bias = rng.standard_normal(co) * 0.1
        return b.op("Conv", [x, b.const(f"{name}.w", (w * gain).astype(np.float32)),
                             b.const(f"{name}.b", bias.astype(np.float32))], name=name,
                    kernel_shape=(k, k), strides=(stride, stride), pads=(k // 2,) * 4,
                    group=group)  # fmt: skip

    x = b.input("x", (1, cin, image, image))
    # stride-2 unit: cin -> mid (grouped), shuffle, depthwise s2, mid -> mid (grouped); concat
    y = b.op("Relu", [conv(x, cin, mid, 1, "g1", groups)], name="g1.relu")
    y = shuffle(b, y, 1, mid, image, groups, "shuffle1")
    y = conv(y, mid, mid, 3, "dw1", mid, stride=2)
    y = conv(y, mid, mid, 1, "g2", groups)
    p = b.op("AveragePool", [x], name="pool", kernel_shape=(3, 3), strides=(2, 2), pads=(1,) * 4)
    u = b.op("Relu", [b.op("Concat", [y, p], name="concat", axis=1)], name="concat.relu")
    c, h = mid + cin, image // 2
    # residual unit: c -> c
    y = b.op("Relu", [conv(u, c, c, 1, "g3", groups)], name="g3.relu")
    y = shuffle(b, y, 1, c, h, groups, "shuffle2")
    y = conv(y, c, c, 3, "dw2", c)
    y = conv(y, c, c, 1, "g4", groups, gain=scale)
    b.output(b.op("Relu", [b.op("Sum", [y, u], name="sum")], name="sum.relu"))
    return b.build()
