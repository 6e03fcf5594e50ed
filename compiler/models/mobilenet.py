"""A MobileNet-V2-style classifier with deterministic random weights.

Stem 3x3/2 conv-bn-ReLU6, then inverted residual blocks (1x1 expand - ReLU6 - depthwise k x k
stride 1 or 2 - ReLU6 - 1x1 project, residual Add where the shape is kept) following
MobileNet-V2's (expansion, channels, repeats, stride) table, with the 160-channel stage's
depthwise convolutions 5x5 (as in MnasNet / MobileNet-V3) so both kernel sizes occur; a 1x1
conv-bn-ReLU6 head, GlobalAveragePool, Flatten, Gemm. ReLU6 is `Clip(0, 6)` (opset 13 inputs).
`width` scales the channels (rounded to multiples of 8, as MobileNet does) and `image` the input,
for fast tests.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.ir import Graph
from compiler.models.layers import LayerMaker

# (expansion t, output channels c, repeats n, first stride s, depthwise kernel k)
BLOCKS = [
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 32, 3, 2, 3),
    (6, 64, 4, 2, 3),
    (6, 96, 3, 1, 3),
    (6, 160, 3, 2, 5),
    (6, 320, 1, 1, 3),
]


def _round8(c: float) -> int:
    return max(8, int(c + 4) // 8 * 8)


def mobilenet(
    seed: int = 0, image: int = 160, batch: int = 1, classes: int = 1000, width: float = 1.0
) -> Graph:
    """The float graph: input `input` f32[batch, 3, image, image], output `logits`."""
    b = GraphBuilder("mobilenet", opset=13)
    net = LayerMaker(b, np.random.default_rng(seed))
    lo, hi = b.const("relu6.min", np.float32(0.0)), b.const("relu6.max", np.float32(6.0))

    def cbr(x: str, cin: int, cout: int, k: int, stride: int, name: str, group: int = 1) -> str:
        y = net.bn(net.conv(x, cin, cout, k, stride, name, group), cout, f"{name}.bn")
        return b.op("Clip", [y, lo, hi], name=f"{name}.relu6")

    x = b.input("input", (batch, 3, image, image))
    cin = _round8(32 * width)
    x = cbr(x, 3, cin, 3, 2, "stem")
    for stage, (t, c, n, s, k) in enumerate(BLOCKS):
        cout = _round8(c * width)
        for i in range(n):
            p = f"block{stage + 1}.{i}"
            stride = s if i == 0 else 1
            hidden = cin * t
            y = cbr(x, cin, hidden, 1, 1, f"{p}.expand") if t != 1 else x
            y = cbr(y, hidden, hidden, k, stride, f"{p}.dw", group=hidden)
            y = net.bn(net.conv(y, hidden, cout, 1, 1, f"{p}.project"), cout, f"{p}.project.bn")
            if stride == 1 and cin == cout:
                y = b.op("Add", [y, x], name=f"{p}.add")
            x, cin = y, cout
    head = _round8(1280 * max(1.0, width))
    x = cbr(x, cin, head, 1, 1, "head")
    x = b.op("GlobalAveragePool", [x], name="avgpool")
    x = b.op("Flatten", [x], name="flatten", axis=1)
    x = net.dense(x, head, classes, "classifier", out="logits")
    b.output(x)
    return b.build()
