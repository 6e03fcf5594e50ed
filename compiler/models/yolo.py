"""A YOLOv8-n-style detector with deterministic random weights.

Ultralytics' YOLOv8 structure at width `width` (0.25 for "n") and depth 1/3, as its ONNX export
shows it: every `Conv` block is conv - batch norm - SiLU, SiLU written `Sigmoid` * `Mul`; C2f
blocks (1x1 conv, `Split` in two, bottlenecks on the second half with residual `Add`s, `Concat`
of all parts, 1x1 conv); SPPF (three chained 5x5 stride-1 `MaxPool`s, `Concat`, 1x1 conv); a
PAN neck with nearest `Resize` x2 upsampling and `Concat`s; and a detect head per scale (P3,
P4, P5): a box branch (two 3x3 Conv blocks and a 1x1 conv to 4*16 DFL bins) and a class branch
(two 3x3 Conv blocks and a 1x1 conv to `classes`), concatenated. The outputs are the three raw
head maps `p3`, `p4`, `p5` (the box decoding - DFL softmax, anchors, NMS - is left out: it is
post-processing, not network).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.ir import Graph
from compiler.models.layers import LayerMaker

REG_MAX = 16  # DFL bins per box side


class _Yolo(LayerMaker):
    act = "silu"

    def cbs(self, x: str, cin: int, cout: int, k: int = 1, stride: int = 1, name: str = "conv"):
        """Ultralytics `Conv`: conv, batch norm, SiLU (as Sigmoid * Mul), or ReLU."""
        y = self.bn(self.conv(x, cin, cout, k, stride, name), cout, f"{name}.bn")
        if self.act == "relu":
            return self.b.op("Relu", [y], name=f"{name}.relu")
        return self.b.op("Mul", [y, self.b.op("Sigmoid", [y], name=f"{name}.sigmoid")],
                         name=f"{name}.silu")  # fmt: skip

    def c2f(self, x: str, cin: int, cout: int, n: int, shortcut: bool, name: str) -> str:
        c = cout // 2
        y = self.cbs(x, cin, 2 * c, 1, 1, f"{name}.cv1")
        split = self.b.const(f"{name}.split", np.array([c, c], np.int64))
        parts = list(self.b.op("Split", [y, split], name=f"{name}.split", num_outputs=2, axis=1))
        for i in range(n):
            p = f"{name}.m.{i}"
            h = self.cbs(parts[-1], c, c, 3, 1, f"{p}.cv1")
            h = self.cbs(h, c, c, 3, 1, f"{p}.cv2")
            if shortcut:
                h = self.b.op("Add", [parts[-1], h], name=f"{p}.add")
            parts.append(h)
        cat = self.b.op("Concat", parts, name=f"{name}.concat", axis=1)
        return self.cbs(cat, (2 + n) * c, cout, 1, 1, f"{name}.cv2")

    def sppf(self, x: str, cin: int, cout: int, name: str) -> str:
        c = cin // 2
        y = [self.cbs(x, cin, c, 1, 1, f"{name}.cv1")]
        for i in range(3):
            y.append(self.b.op("MaxPool", [y[-1]], name=f"{name}.m{i}", kernel_shape=(5, 5),
                               strides=(1, 1), pads=(2, 2, 2, 2)))  # fmt: skip
        cat = self.b.op("Concat", y, name=f"{name}.concat", axis=1)
        return self.cbs(cat, 4 * c, cout, 1, 1, f"{name}.cv2")

    def upsample(self, x: str, name: str) -> str:
        scales = self.b.const(f"{name}.scales", np.array([1, 1, 2, 2], np.float32))
        return self.b.op("Resize", [x, "", scales], name=name, mode="nearest",
                         coordinate_transformation_mode="asymmetric",
                         nearest_mode="floor")  # fmt: skip

    def detect(self, x: str, cin: int, c_box: int, c_cls: int, classes: int, name: str) -> str:
        box = self.cbs(x, cin, c_box, 3, 1, f"{name}.box.0")
        box = self.cbs(box, c_box, c_box, 3, 1, f"{name}.box.1")
        box = self.conv(box, c_box, 4 * REG_MAX, 1, 1, f"{name}.box.2", bias=True)
        cls = self.cbs(x, cin, c_cls, 3, 1, f"{name}.cls.0")
        cls = self.cbs(cls, c_cls, c_cls, 3, 1, f"{name}.cls.1")
        cls = self.conv(cls, c_cls, classes, 1, 1, f"{name}.cls.2", bias=True)
        return self.b.op("Concat", [box, cls], name=f"{name}.concat", out=name, axis=1)


def yolo(
    seed: int = 0,
    image: int = 320,
    batch: int = 1,
    classes: int = 80,
    width: float = 0.25,
    depth: float = 1 / 3,
    act: str = "silu",
) -> Graph:
    """The float graph: input `input` f32[batch, 3, image, image] (image a multiple of 32),
    outputs `p3`, `p4`, `p5` of shape [batch, 64 + classes, image / s, image / s], s = 8, 16, 32.
    `act="relu"`: every Conv block ends in ReLU instead of SiLU, so the data between the blocks
    stays int8 and the SPPF max pools and the upsamples run on the accelerator (with SiLU,
    computed on the CPU, their inputs are float and they run there too).
    """
    if act not in ("silu", "relu"):
        raise ValueError(f"yolo: act {act!r} is not silu or relu")
    if image % 32:
        raise ValueError(f"yolo: image {image} must be a multiple of 32 (five stride-2 stages)")
    b = GraphBuilder("yolo", opset=13)
    net = _Yolo(b, np.random.default_rng(seed))
    net.act = act
    ch = [max(16, int(c * width)) for c in (64, 128, 256, 512, 1024)]
    reps = [max(1, round(n * depth)) for n in (3, 6, 6, 3)]

    x = b.input("input", (batch, 3, image, image))
    x = net.cbs(x, 3, ch[0], 3, 2, "model.0")  # P1/2
    x = net.cbs(x, ch[0], ch[1], 3, 2, "model.1")  # P2/4
    x = net.c2f(x, ch[1], ch[1], reps[0], True, "model.2")
    x = net.cbs(x, ch[1], ch[2], 3, 2, "model.3")  # P3/8
    p3 = net.c2f(x, ch[2], ch[2], reps[1], True, "model.4")
    x = net.cbs(p3, ch[2], ch[3], 3, 2, "model.5")  # P4/16
    p4 = net.c2f(x, ch[3], ch[3], reps[2], True, "model.6")
    x = net.cbs(p4, ch[3], ch[4], 3, 2, "model.7")  # P5/32
    x = net.c2f(x, ch[4], ch[4], reps[3], True, "model.8")
    p5 = net.sppf(x, ch[4], ch[4], "model.9")
    # PAN neck: top-down with upsampling, then bottom-up with stride-2 convs.
    x = b.op("Concat", [net.upsample(p5, "model.10"), p4], name="model.11", axis=1)
    n4 = net.c2f(x, ch[4] + ch[3], ch[3], reps[0], False, "model.12")
    x = b.op("Concat", [net.upsample(n4, "model.13"), p3], name="model.14", axis=1)
    o3 = net.c2f(x, ch[3] + ch[2], ch[2], reps[0], False, "model.15")
    x = net.cbs(o3, ch[2], ch[2], 3, 2, "model.16")
    x = b.op("Concat", [x, n4], name="model.17", axis=1)
    o4 = net.c2f(x, ch[2] + ch[3], ch[3], reps[0], False, "model.18")
    x = net.cbs(o4, ch[3], ch[3], 3, 2, "model.19")
    x = b.op("Concat", [x, p5], name="model.20", axis=1)
    o5 = net.c2f(x, ch[3] + ch[4], ch[4], reps[0], False, "model.21")
    c_box = max(16, ch[2] // 4, 4 * REG_MAX)
    c_cls = max(ch[2], min(classes, 100))
    outs = [
        net.detect(o, c, c_box, c_cls, classes, f"p{3 + i}")
        for i, (o, c) in enumerate([(o3, ch[2]), (o4, ch[3]), (o5, ch[4])])
    ]
    b.output(*outs)
    return b.build()
