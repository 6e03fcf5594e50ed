"""ResNet-18 (torchvision's structure) with deterministic random weights.

conv-bn-relu stem (7x7/2) and max pool, four stages of two basic blocks (3x3 convs, a 1x1/2
downsample shortcut where the shape changes), global average pool, flatten, dense. Weights are
He-initialised from a seeded generator and the batch-norm statistics are random but plausible,
so the activations keep a realistic range through the network (quantization sees real spreads).
`width` and `image` shrink it for fast tests.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.ir import Graph
from compiler.models.layers import LayerMaker


class _Net(LayerMaker):
    """ResNet's own conv (no bias, torchvision's padding); batch norms from `LayerMaker`."""

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, name: str = "conv") -> str:
        w = self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        pad = k // 2
        return self.b.op(
            "Conv",
            [x, self.b.const("w", w.astype(np.float32))],
            name=name,
            kernel_shape=(k, k),
            strides=(stride, stride),
            pads=(pad,) * 4,
        )


def resnet18(
    seed: int = 0, image: int = 224, batch: int = 1, classes: int = 1000, width: int = 64
) -> Graph:
    """The float ResNet-18 graph: input `input` f32[batch, 3, image, image], output logits."""
    b = GraphBuilder("resnet18", opset=13)
    net = _Net(b, np.random.default_rng(seed))
    x = b.input("input", (batch, 3, image, image))
    # Node names follow torchvision's module names (conv1, layer2.0.conv1, layer2.0.downsample).
    x = b.op("Relu", [net.bn(net.conv(x, 3, width, 7, 2, "conv1"), width, "bn1")], name="relu")
    x = b.op("MaxPool", [x], name="maxpool", kernel_shape=(3, 3), strides=(2, 2), pads=(1,) * 4)
    cin = width
    for stage, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
        for block in range(2):
            p = f"layer{stage + 1}.{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            y = net.bn(net.conv(x, cin, cout, 3, stride, f"{p}.conv1"), cout, f"{p}.bn1")
            y = b.op("Relu", [y], name=f"{p}.relu1")
            y = net.bn(net.conv(y, cout, cout, 3, 1, f"{p}.conv2"), cout, f"{p}.bn2")
            shortcut = x
            if stride != 1 or cin != cout:
                ds = net.conv(x, cin, cout, 1, stride, f"{p}.downsample")
                shortcut = net.bn(ds, cout, f"{p}.downsample.bn")
            x = b.op("Relu", [b.op("Add", [y, shortcut], name=f"{p}.add")], name=f"{p}.relu2")
            cin = cout
    x = b.op("GlobalAveragePool", [x], name="avgpool")
    x = b.op("Flatten", [x], name="flatten", axis=1)
    w = net.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin)
    fc_b = net.rng.standard_normal(classes) * 0.1
    x = b.op(
        "Gemm",
        [x, b.const("fc_w", w.astype(np.float32)), b.const("fc_b", fc_b.astype(np.float32))],
        name="fc",
        out="logits",
        transB=1,
    )
    b.output(x)
    return b.build()
