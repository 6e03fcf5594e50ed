"""Shared layer helpers of the built-in models: seeded He-initialised convolutions, dense
layers and batch norms with random but plausible statistics, written with `GraphBuilder`.

Batch norms stay separate nodes (the optimizer folds them into the convolutions) so the built-in
graphs look like the exported ONNX models they imitate.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder


class LayerMaker:
    def __init__(self, b: GraphBuilder, rng: np.random.Generator) -> None:
        self.b, self.rng = b, rng

    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        name: str = "conv",
        group: int = 1,
        bias: bool = False,
    ) -> str:
        fan_in = (cin // group) * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        ins = [x, self.b.const(f"{name}.w", w.astype(np.float32))]
        if bias:
            ins.append(self.b.const(f"{name}.b", (self.rng.standard_normal(cout) * 0.1)
                                    .astype(np.float32)))  # fmt: skip
        attrs = {"group": group} if group != 1 else {}
        return self.b.op(
            "Conv", ins, name=name, kernel_shape=(k, k), strides=(stride, stride),
            pads=(k // 2,) * 4, **attrs,
        )  # fmt: skip

    def bn(self, x: str, c: int, name: str = "bn") -> str:
        r, b = self.rng, self.b
        params = [
            r.uniform(0.5, 1.5, c),  # gamma
            r.standard_normal(c) * 0.1,  # beta
            r.standard_normal(c) * 0.1,  # mean
            r.uniform(0.5, 1.5, c),  # var
        ]
        keys = ("gamma", "beta", "mean", "var")
        names = [
            b.const(f"{name}.{k}", p.astype(np.float32)) for k, p in zip(keys, params, strict=True)
        ]
        return b.op("BatchNormalization", [x, *names], name=name, epsilon=1e-5)

    def dense(self, x: str, cin: int, cout: int, name: str = "fc", out: str | None = None) -> str:
        w = self.rng.standard_normal((cout, cin)) * np.sqrt(1.0 / cin)
        bias = self.rng.standard_normal(cout) * 0.1
        return self.b.op(
            "Gemm",
            [x, self.b.const(f"{name}.w", w.astype(np.float32)),
             self.b.const(f"{name}.b", bias.astype(np.float32))],
            name=name, out=out, transB=1,
        )  # fmt: skip
