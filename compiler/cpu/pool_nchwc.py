"""Pooling on the blocked NCHWc layout, for networks kept in NCHWc between convolutions.

Channels are the vector lanes, so every load is contiguous. Buffers may carry a zero border
(`in_pad`, `out_pad`) as the NCHWc convolutions produce and consume them.
"""

from __future__ import annotations

from compiler.cpu.nest import nest
from compiler.tir.nodes import Allocate, BinOp, Buffer, Const, ForKind, PrimFunc, Store, Var, seq

F32 = "float32"


def max_pool_nchwc(
    n: int,
    cb: int,
    h: int,
    w: int,
    bn: int,
    kernel: int,
    stride: int,
    pad: int,
    in_pad: int,
    out_pad: int = 0,
) -> PrimFunc:
    """Max pooling whose padding reads the buffer's zero border: exact for inputs >= 0
    (e.g. after a ReLU), where a zero pad and the usual -inf pad give the same maximum.

    Params: x [N, CB, H + 2 in_pad, W + 2 in_pad, bn], out [N, CB, OH + 2 out_pad, ..., bn].
    """
    if in_pad < pad:
        raise ValueError(f"max_pool_nchwc: in_pad {in_pad} is smaller than the padding {pad}")
    oh = (h + 2 * pad - kernel) // stride + 1
    ow = (w + 2 * pad - kernel) // stride + 1
    off = in_pad - pad
    x = Buffer("x", (n, cb, h + 2 * in_pad, w + 2 * in_pad, bn), F32)
    out = Buffer("out", (n, cb, oh + 2 * out_pad, ow + 2 * out_pad, bn), F32)
    acc = Buffer("acc", (bn,), F32, scope="local")
    p, ox, l0, ky, kx, l1, l2 = (Var(v) for v in ("p", "ox", "l", "ky", "kx", "l", "l"))
    ni, ci, oy = p // (cb * oh), p // oh % cb, p % oh
    tap = x[ni, ci, oy * stride + ky + off, ox * stride + kx + off, l1]
    body = Allocate(
        acc,
        seq(
            nest([(l0, bn, ForKind.VECTORIZED)], Store(acc, (l0,), Const(float("-inf"), F32))),
            nest(
                [
                    (ky, kernel, ForKind.UNROLLED),
                    (kx, kernel, ForKind.UNROLLED),
                    (l1, bn, ForKind.VECTORIZED),
                ],
                Store(acc, (l1,), BinOp("max", acc[l1], tap)),
            ),
            nest(
                [(l2, bn, ForKind.VECTORIZED)],
                Store(out, (ni, ci, oy + out_pad, ox + out_pad, l2), acc[l2]),
            ),
        ),
    )
    loop = nest([(p, n * cb * oh, ForKind.PARALLEL), (ox, ow, ForKind.SERIAL)], body)
    return PrimFunc("max_pool_nchwc", (x, out), loop)


def global_avg_pool_nchwc(n: int, cb: int, h: int, w: int, bn: int, in_pad: int = 0) -> PrimFunc:
    """Mean over the interior pixels. Params: x [N, CB, H + 2 in_pad, ..., bn], out [N, CB * bn]."""
    x = Buffer("x", (n, cb, h + 2 * in_pad, w + 2 * in_pad, bn), F32)
    out = Buffer("out", (n, cb, bn), F32)
    acc = Buffer("acc", (bn,), F32, scope="local")
    p, l0, y, xx, l1, l2 = (Var(v) for v in ("p", "l", "y", "x", "l", "l"))
    ni, ci = p // cb, p % cb
    body = Allocate(
        acc,
        seq(
            nest([(l0, bn, ForKind.VECTORIZED)], Store(acc, (l0,), Const(0.0, F32))),
            nest(
                [(y, h, ForKind.SERIAL), (xx, w, ForKind.SERIAL), (l1, bn, ForKind.VECTORIZED)],
                Store(acc, (l1,), acc[l1] + x[ni, ci, y + in_pad, xx + in_pad, l1]),
            ),
            nest(
                [(l2, bn, ForKind.VECTORIZED)],
                Store(out, (ni, ci, l2), acc[l2] * Const(1.0 / (h * w), F32)),
            ),
        ),
    )
    kind = ForKind.PARALLEL if n * cb > 1 else ForKind.SERIAL
    return PrimFunc("global_avg_pool_nchwc", (x, out), nest([(p, n * cb, kind)], body))
