"""Pooling on NCHW: max / average (with padding, stride, dilation) and global average.

Stage 1 pads the input into a temporary (with -inf for max, 0 for average) so windows need no
bounds checks; stage 2 is parallel over (n, c, output row) with the row vectorized. Average
pooling divides by the window size (`count_include_pad`) or by the taps inside the input.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.cpu.conv2d_direct import pad_stage
from compiler.cpu.nest import RowKnobs, data_parallel, default_map_knobs, nest
from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Cast,
    Const,
    ForKind,
    PrimFunc,
    Store,
    Var,
    seq,
)

F32 = "float32"


def pool2d(
    kind: str,
    shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1),
    count_include_pad: bool = False,
    knobs: RowKnobs | None = None,
) -> PrimFunc:
    """`kind` is "max" or "avg"; params x [N, C, H, W], out [N, C, OH, OW] (floor mode).
    `knobs` (default `RowKnobs()`: rows parallel, row vectorized, taps not unrolled)."""
    knobs = knobs or RowKnobs()
    if kind not in ("max", "avg"):
        raise ValueError(f"pool2d: kind must be 'max' or 'avg', got {kind!r}")
    n, c, h, w = shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    pt, pl, pb, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    oh_n = (hp - dh * (kh - 1) - 1) // sh + 1
    ow_n = (wp - dw * (kw - 1) - 1) // sw + 1
    x = Buffer("x", (n, c, h, w), F32)
    out = Buffer("out", (n, c, oh_n, ow_n), F32)
    xp = Buffer("x_padded", (n, c, hp, wp), F32)
    fill = Const(float("-inf") if kind == "max" else 0.0, F32)
    pad = pad_stage(x, xp, (pt, pl), fill, knobs)

    p = Var("p")
    ni, ci, yi = p // (c * oh_n), p // oh_n % c, p % oh_n
    acc = Buffer("acc", (ow_n,), F32, scope="local")
    a0, ky, kx, a1, a2 = (Var(v) for v in ("a", "ky", "kx", "a", "a"))
    tap = xp[ni, ci, yi * sh + ky * dh, a1 * sw + kx * dw]
    combine = BinOp("max", acc[a1], tap) if kind == "max" else acc[a1] + tap
    val = acc[a2]
    if kind == "avg":
        if count_include_pad or not any(pads):
            val = val / Const(float(kh * kw), F32)
        else:
            # Taps inside the unpadded input, in padded coordinates (dilation 1 for this count).
            y0, x0 = yi * sh, a2 * sw
            rows = BinOp("min", y0 + kh, Const(pt + h)) - BinOp("max", y0, Const(pt))
            cols = BinOp("min", x0 + kw, Const(pl + w)) - BinOp("max", x0, Const(pl))
            val = val / Cast(F32, rows * cols)
    along = knobs.row_kind()
    row = Allocate(acc, seq(
        nest([(a0, ow_n, along)], Store(acc, (a0,), fill)),
        nest([(ky, kh, ForKind.SERIAL), (kx, kw, knobs.tap_kind()), (a1, ow_n, along)],
             Store(acc, (a1,), combine)),
        nest([(a2, ow_n, along)], Store(out, (ni, ci, yi, a2), val)),
    ))  # fmt: skip
    body = nest([(p, n * c * oh_n, knobs.outer_kind())], row)
    return PrimFunc(f"{kind}_pool2d", (x, out), Allocate(xp, seq(pad, body)))


def global_avg_pool(shape: tuple[int, int, int, int]) -> PrimFunc:
    """x [N, C, H, W] -> out [N, C, 1, 1] = mean over H, W."""
    n, c, h, w = shape
    x = Buffer("x", (n * c, h * w), F32)
    out = Buffer("out", (n * c,), F32)
    s = Buffer("s", (1,), F32, scope="local")
    k = Var("k")

    def body(idx):
        (i,) = idx
        return Allocate(s, seq(
            Store(s, (Const(0),), Const(0.0, F32)),
            nest([(k, h * w, ForKind.SERIAL)], Store(s, (Const(0),), s[Const(0)] + x[i, k])),
            Store(out, (i,), s[Const(0)] / Const(float(h * w), F32)),
        ))  # fmt: skip

    knobs = replace(default_map_knobs([n * c]), vectorize=False)  # the body is a reduction
    return PrimFunc("global_avg_pool", (x, out), data_parallel([n * c], body, knobs=knobs))
