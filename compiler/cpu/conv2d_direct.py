"""Direct conv2d in plain NCHW: the general fallback (any groups, dilation, asymmetric padding,
and int8 x int8 -> int32 for quantized graphs), as a loop-IR generator.

    x       [N, C, H, W]            float32 or int8
    weight  [O, C/groups, KH, KW]   same dtype as x
    bias    [O]                     float32 or int32 (optional)
    out     [N, O, OH, OW]          float32 or int32

Stage 1 (parallel) copies x into a zero-padded temporary so the reduction needs no bounds
checks; stage 2 (parallel over (n, o, output row)) accumulates one output row in a local
buffer over (input channel, ky, kx) with the row as the vectorized axis.
"""

from __future__ import annotations

from compiler.cpu.nest import nest
from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Cast,
    Const,
    ForKind,
    IfThenElse,
    PrimFunc,
    Store,
    Var,
    seq,
)


def conv2d_direct(
    n: int,
    c: int,
    h: int,
    w: int,
    o: int,
    kh: int,
    kw: int,
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    dtype: str = "float32",
    bias: bool = False,
    relu: bool = False,
) -> PrimFunc:
    if c % groups or o % groups:
        raise ValueError(f"conv2d: groups={groups} must divide C={c} and O={o}")
    if dtype not in ("float32", "int8"):
        raise ValueError(f"conv2d: dtype {dtype} not supported on the CPU (float32, int8)")
    acc_t = "float32" if dtype == "float32" else "int32"
    (sh, sw), (dh, dw) = stride, dilation
    pt, pl, pb, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    oh_n = (hp - dh * (kh - 1) - 1) // sh + 1
    ow_n = (wp - dw * (kw - 1) - 1) // sw + 1
    cg, og = c // groups, o // groups
    x = Buffer("x", (n, c, h, w), dtype)
    wt = Buffer("weight", (o, cg, kh, kw), dtype)
    b = Buffer("bias", (o,), acc_t) if bias else None
    out = Buffer("out", (n, o, oh_n, ow_n), acc_t)
    xp = Buffer("x_padded", (n, c, hp, wp), dtype)
    zero_in = Const(0.0 if dtype == "float32" else 0, dtype)
    zero_acc = Const(0.0 if acc_t == "float32" else 0, acc_t)

    pad = pad_stage(x, xp, (pt, pl), zero_in)

    # stage 2: conv rows
    p = Var("p")
    ni, oi, yi = p // (o * oh_n), p // oh_n % o, p % oh_n
    g0 = oi // og * cg
    acc = Buffer("acc", (ow_n,), acc_t, scope="local")
    a0, ci, ky, kx, a1, a2 = (Var(v) for v in ("a", "ci", "ky", "kx", "a", "a"))

    def widen(e):
        return e if dtype == acc_t else Cast(acc_t, e)

    update = Store(
        acc,
        (a1,),
        acc[a1]
        + widen(xp[ni, g0 + ci, yi * sh + ky * dh, a1 * sw + kx * dw]) * widen(wt[oi, ci, ky, kx]),
    )
    val = acc[a2]
    if b is not None:
        val = val + b[oi]
    if relu:
        val = BinOp("max", val, zero_acc)
    row = Allocate(
        acc,
        seq(
            nest([(a0, ow_n, ForKind.VECTORIZED)], Store(acc, (a0,), zero_acc)),
            nest(
                [
                    (ci, cg, ForKind.SERIAL),
                    (ky, kh, ForKind.SERIAL),
                    (kx, kw, ForKind.SERIAL),
                    (a1, ow_n, ForKind.VECTORIZED),
                ],
                update,
            ),
            nest([(a2, ow_n, ForKind.VECTORIZED)], Store(out, (ni, oi, yi, a2), val)),
        ),
    )
    conv = nest([(p, n * o * oh_n, ForKind.PARALLEL)], row)
    params = (x, wt) + ((b,) if b is not None else ()) + (out,)
    return PrimFunc("conv2d_direct", params, Allocate(xp, seq(pad, conv)))


def pad_stage(x: Buffer, xp: Buffer, begin: tuple[int, int], value: Const):
    """A parallel loop copying x [N, C, H, W] into xp [N, C, Hp, Wp] at offset `begin`
    (top, left), filling the rest with `value`."""
    n, c, h, w = x.shape
    _, _, hp, wp = xp.shape
    pt, pl = begin
    q, j, xi = Var("q"), Var("j"), Var("xi")
    qn, qc, qy = q // (c * hp), q // hp % c, q % hp
    inside = BinOp("and", qy >= Const(pt), qy < Const(pt + h))
    return nest(
        [(q, n * c * hp, ForKind.PARALLEL)],
        seq(
            nest([(j, wp, ForKind.VECTORIZED)], Store(xp, (qn, qc, qy, j), value)),
            IfThenElse(
                inside,
                nest(
                    [(xi, w, ForKind.VECTORIZED)],
                    Store(xp, (qn, qc, qy, xi + pl), x[qn, qc, qy - pt, xi]),
                ),
            ),
        ),
    )
