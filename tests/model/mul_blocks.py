"""Small float graphs with HardSwish (as PP-OCR's exporter writes it and as one ONNX node), a
squeeze-excite gate and an element-wise Mul of two conv outputs: what the ALU's MUL ops run."""

from __future__ import annotations

import dataclasses

import numpy as np

from compiler.graph.builder import GraphBuilder
from hw_sim.config import HwConfig, load_config


def mul_config(name: str) -> HwConfig:
    """A built-in config with the ALU's MUL switched on (`mul` is `default` + MUL)."""
    return dataclasses.replace(load_config(name), ALU_MUL=True)


def _conv(b: GraphBuilder, x: str, cin: int, cout: int, k: int, rng, name: str) -> str:
    w = rng.standard_normal((cout, cin, k, k)) * (2 / np.sqrt(cin * k * k))
    bias = rng.standard_normal(cout) * 0.5
    wc, bc = (
        b.const(f"{name}_w", w.astype(np.float32)),
        b.const(f"{name}_b", bias.astype(np.float32)),
    )
    return b.op("Conv", [x, wc, bc], name=name, pads=(k // 2,) * 4, kernel_shape=(k, k))


def _scalar(b: GraphBuilder, name: str, v: float) -> str:
    return b.const(name, np.float32(v))


def hardswish_pattern(b: GraphBuilder, x: str, name: str) -> str:
    """x * Clip(x + 3, 0, 6) / 6, as PaddlePaddle exports HardSwish."""
    a = b.op("Add", [x, _scalar(b, f"{name}_3", 3.0)])
    c = b.op("Clip", [a, _scalar(b, f"{name}_lo", 0.0), _scalar(b, f"{name}_hi", 6.0)])
    m = b.op("Mul", [x, c])
    return b.op("Div", [m, _scalar(b, f"{name}_6", 6.0)], name=name)


def mul_block(c: int = 24, h: int = 8, seed: int = 0):
    """conv -> HardSwish (pattern) -> conv -> squeeze-excite (GAP, 1x1 convs, HardSigmoid, Mul)
    -> conv -> HardSwish (ONNX op) -> conv -> Mul with a parallel conv's output -> conv. The gate
    is int8 only when the squeeze-excite convs are quantized (`float_squeeze_excite=False`)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("mul_block", opset=14)
    x = b.input("x", (1, 8, h, h))
    y = hardswish_pattern(b, _conv(b, x, 8, c, 3, rng, "c1"), "hs1")
    y = _conv(b, y, c, c, 1, rng, "c1b")
    s = b.op("GlobalAveragePool", [y])
    s = b.op("Relu", [_conv(b, s, c, 8, 1, rng, "se1")])
    gate = b.op("HardSigmoid", [_conv(b, s, 8, c, 1, rng, "se2")], alpha=1 / 6, beta=0.5)
    y = b.op("Mul", [y, gate], name="se_mul")
    z = b.op("HardSwish", [_conv(b, y, c, c, 3, rng, "c2")], name="hs2")
    z = _conv(b, z, c, c, 1, rng, "c2b")
    z = b.op("Mul", [z, _conv(b, y, c, c, 1, rng, "c3")], name="mul2")
    b.output(_conv(b, z, c, 16, 1, rng, "c4"))
    return b.build()


def affine_block(c: int = 16, h: int = 8, seed: int = 1):
    """PP-OCR-det's pattern: conv -> Mul(s) -> Add(t) -> HardSwish (exported as four nodes) ->
    Mul(s') -> Add(t') -> depthwise 3x3 conv (padded) -> Mul -> Add -> HardSwish -> 1x1 conv."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("affine_block", opset=13)

    def affine(v: str, name: str) -> str:
        s = b.op("Mul", [_scalar(b, f"{name}_s", float(rng.uniform(0.5, 1.5))), v])
        return b.op("Add", [s, _scalar(b, f"{name}_t", float(rng.uniform(-0.5, 0.5)))])

    x = b.input("x", (1, 8, h, h))
    y = affine(_conv(b, x, 8, c, 3, rng, "c1"), "a1")
    y = affine(hardswish_pattern(b, y, "hs1"), "a2")
    w = b.const("dw_w", (rng.standard_normal((c, 1, 3, 3)) * 0.5).astype(np.float32))
    y = b.op("Conv", [y, w], name="dw", group=c, pads=(1, 1, 1, 1), kernel_shape=(3, 3))
    y = affine(hardswish_pattern(b, affine(y, "a3"), "hs2"), "a4")
    b.output(_conv(b, y, c, 16, 1, rng, "c2"))
    return b.build()
