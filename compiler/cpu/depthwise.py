"""Depthwise conv2d (one filter per channel) in NCHWc, as a loop-IR generator.

    data    [N, C/bn, H + 2 pad_h, W + 2 pad_w, bn]   (padded, see layout.pack_nchwc)
    weight  [C/bn, KH, KW, bn]
    bias    [C/bn, bn]                                   (optional)
    out     [N, C/bn, OH, OW, bn]

Channels are the vector lanes, so every load is a contiguous vector; a tile of `ow_tile`
output pixels stays in registers across the KH x KW taps (unrolled).
"""

from __future__ import annotations

import numpy as np

from compiler.cpu.conv2d import Conv2dShape
from compiler.cpu.nest import nest
from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    PrimFunc,
    Store,
    Var,
    seq,
)

F32 = "float32"


def depthwise_nchwc(
    shape: Conv2dShape, bn: int, ow_tile: int, bias: bool = False, relu: bool = False
) -> PrimFunc:
    s = shape
    if not (s.groups == s.c == s.o):
        raise ValueError(f"depthwise_nchwc: needs groups == C == O, got {s}")
    if s.c % bn:
        raise ValueError(f"depthwise_nchwc: block {bn} does not divide {s.c} channels")
    oh_n, ow_n = s.out_hw
    (sh, sw), (dh, dw) = s.stride, s.dilation
    cb = s.c // bn
    data = Buffer("data", (s.n, cb, s.h + 2 * s.pad[0], s.w + 2 * s.pad[1], bn), F32)
    weight = Buffer("weight", (cb, s.kh, s.kw, bn), F32)
    bias_buf = Buffer("bias", (cb, bn), F32) if bias else None
    out = Buffer("out", (s.n, cb, oh_n, ow_n, bn), F32)
    p = Var("p")
    n, c, oh = p // (cb * oh_n), p // oh_n % cb, p % oh_n

    def tile(ow0, width: int):
        acc = Buffer("acc", (width, bn), F32, scope="local")
        w, l = Var("w"), Var("l")  # noqa: E741
        zero = nest(
            [(w, width, ForKind.UNROLLED), (l, bn, ForKind.VECTORIZED)],
            Store(acc, (w, l), Const(0.0, F32)),
        )
        ky, kx, w2, l2 = Var("ky"), Var("kx"), Var("w"), Var("l")
        upd = Store(
            acc,
            (w2, l2),
            acc[w2, l2]
            + data[n, c, oh * sh + ky * dh, (ow0 + w2) * sw + kx * dw, l2] * weight[c, ky, kx, l2],
        )
        red = nest(
            [
                (ky, s.kh, ForKind.UNROLLED),
                (kx, s.kw, ForKind.UNROLLED),
                (w2, width, ForKind.UNROLLED),
                (l2, bn, ForKind.VECTORIZED),
            ],
            upd,
        )
        w3, l3 = Var("w"), Var("l")
        val = acc[w3, l3]
        if bias_buf is not None:
            val = val + bias_buf[c, l3]
        if relu:
            val = BinOp("max", val, Const(0.0, F32))
        st = nest(
            [(w3, width, ForKind.UNROLLED), (l3, bn, ForKind.VECTORIZED)],
            Store(out, (n, c, oh, ow0 + w3, l3), val),
        )
        return Allocate(acc, seq(zero, red, st))

    full, rest = divmod(ow_n, ow_tile)
    owo = Var("owo")
    row = seq(
        For(owo, Const(0), Const(full), ForKind.SERIAL, tile(owo * ow_tile, ow_tile))
        if full
        else None,
        tile(Const(full * ow_tile), rest) if rest else None,
    )
    body = For(p, Const(0), Const(s.n * cb * oh_n), ForKind.PARALLEL, row)
    params = (data, weight) + ((bias_buf,) if bias_buf is not None else ()) + (out,)
    return PrimFunc("depthwise_nchwc", params, body)


def pack_depthwise_weight(w: np.ndarray, bn: int) -> np.ndarray:
    """[C, 1, KH, KW] -> [C/bn, KH, KW, bn]."""
    c, _, kh, kw = w.shape
    return np.ascontiguousarray(
        w.reshape(c // bn, bn, kh, kw).transpose(0, 2, 3, 1), dtype=np.float32
    )
