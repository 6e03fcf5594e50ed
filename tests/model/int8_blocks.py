"""Small float models whose data movement stays int8: conv -> maxpool -> conv, a C2f-like
split/concat block with a residual add, an SPPF block (three chained 5x5 stride-1 max pools and
a concat), and a nearest x2 upsample. ReLU activations (so every conv runs on the accelerator)."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.ir import Graph


class _Blocks:
    def __init__(self, b: GraphBuilder, seed: int) -> None:
        self.b, self.rng = b, np.random.default_rng(seed)

    def conv(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, act=True) -> str:
        w = self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        bias = self.rng.standard_normal(cout) * 0.1
        y = self.b.op(
            "Conv",
            [x, self.b.const("w", w.astype(np.float32)),
             self.b.const("b", bias.astype(np.float32))],
            kernel_shape=(k, k), strides=(stride, stride), pads=(k // 2,) * 4,
        )  # fmt: skip
        return self.b.op("Relu", [y]) if act else y

    def maxpool(self, x: str, k: int, s: int, p: int) -> str:
        return self.b.op("MaxPool", [x], kernel_shape=(k, k), strides=(s, s), pads=(p,) * 4)

    def c2f(self, x: str, c: int) -> str:
        """conv -> split in two halves -> bottleneck(second half) with a residual add ->
        concat(first, second, bottleneck) -> conv."""
        y = self.conv(x, c, 2 * c)
        a, b2 = self.b.op("Split", [y, self.b.const("split", np.array([c, c]))], axis=1,
                          num_outputs=2)  # fmt: skip
        m = self.conv(self.conv(b2, c, c, 3), c, c, 3)
        r = self.b.op("Add", [b2, m])
        cat = self.b.op("Concat", [a, b2, r], axis=1)
        return self.conv(cat, 3 * c, 2 * c)

    def sppf(self, x: str, c: int) -> str:
        y = self.conv(x, c, c // 2)
        p1 = self.maxpool(y, 5, 1, 2)
        p2 = self.maxpool(p1, 5, 1, 2)
        p3 = self.maxpool(p2, 5, 1, 2)
        cat = self.b.op("Concat", [y, p1, p2, p3], axis=1)
        return self.conv(cat, 2 * c, c)


def conv_pool_conv(seed: int = 0, c: int = 16, image: int = 16, k: int = 3, s: int = 2,
                   p: int = 1) -> Graph:  # fmt: skip
    b = GraphBuilder("conv_pool_conv", opset=13)
    net = _Blocks(b, seed)
    x = b.input("x", (1, 3, image, image))
    y = net.conv(net.maxpool(net.conv(x, 3, c, 3), k, s, p), c, c, 3)
    b.output(y)
    return b.build()


def yolo_blocks(seed: int = 0, c: int = 16, image: int = 16) -> Graph:
    """stem conv -> maxpool 2x2/2 -> C2f -> SPPF -> nearest x2 upsample -> conv (no act)."""
    b = GraphBuilder("yolo_blocks", opset=13)
    net = _Blocks(b, seed)
    x = b.input("x", (1, 3, image, image))
    y = net.maxpool(net.conv(x, 3, c, 3), 2, 2, 0)
    y = net.c2f(y, c)
    y = net.sppf(y, 2 * c)
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    y = b.op("Resize", [y, "", scales], mode="nearest")
    b.output(net.conv(y, 2 * c, c, 1, act=False))
    return b.build()


def pool_residual(seed: int = 0, c: int = 16, image: int = 12) -> Graph:
    """conv -> (3x3 stride-1 max pool) + itself -> conv: an int8 Add that no conv epilogue can
    take (the conv's output has two readers), so it is its own accelerator group."""
    b = GraphBuilder("pool_residual", opset=13)
    net = _Blocks(b, seed)
    x = b.input("x", (1, 3, image, image))
    y = net.conv(x, 3, c, 3)
    s = b.op("Add", [y, net.maxpool(y, 3, 1, 1)])
    b.output(net.conv(s, c, c, 3))
    return b.build()
