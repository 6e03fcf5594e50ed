"""Layout transforms between NCHW and the blocked NCHWc layout the CPU convolutions use.

`pack_nchwc` / `unpack_nchwc` are loop-IR kernels (they run at inference time on activations);
`pack_conv_weight` rearranges constant weights once on the host, with NumPy.
"""

from __future__ import annotations

import numpy as np

from compiler.cpu.nest import nest
from compiler.tir.nodes import BinOp, Buffer, Const, ForKind, IfThenElse, PrimFunc, Store, Var, seq

F32 = "float32"


def pack_nchwc(
    n: int, c: int, h: int, w: int, bn: int, pad: tuple[int, int] = (0, 0), dtype: str = F32
) -> PrimFunc:
    """`out[n, c // bn, y + pad_h, x + pad_w, c % bn] = x[n, c, y, x]`, zero in the border.

    Params: x [N, C, H, W]; out [N, C/bn, H + 2 pad_h, W + 2 pad_w, bn].
    """
    if c % bn:
        raise ValueError(f"pack_nchwc: block {bn} does not divide {c} channels")
    ph, pw = pad
    hp, wp = h + 2 * ph, w + 2 * pw
    cb = c // bn
    x = Buffer("x", (n, c, h, w), dtype)
    out = Buffer("out", (n, cb, hp, wp, bn), dtype)
    p, j, l, ci, xi = Var("p"), Var("j"), Var("l"), Var("ci"), Var("xi")  # noqa: E741
    ni, cbi, yi = p // (cb * hp), p // hp % cb, p % hp
    zero_row = nest(
        [(j, wp, ForKind.SERIAL), (l, bn, ForKind.VECTORIZED)],
        Store(out, (ni, cbi, yi, j, l), Const(0.0 if dtype.startswith("float") else 0, dtype)),
    )
    # Channels innermost: a contiguous vector store of `bn` channels per pixel, gathered from
    # `bn` channel planes (stores are the scarcer port, so the strided side is the load).
    copy = nest(
        [(xi, w, ForKind.SERIAL), (ci, bn, ForKind.VECTORIZED)],
        Store(out, (ni, cbi, yi, xi + pw, ci), x[ni, cbi * bn + ci, yi - ph, xi]),
    )
    # Output rows in the top/bottom border are only zeroed; interior rows are zeroed (for the
    # left/right border) and then overwritten by the input row.
    inside = BinOp("and", yi >= Const(ph), yi < Const(ph + h))
    body = seq(zero_row if (ph or pw) else None, IfThenElse(inside, copy) if ph else copy)
    loop = nest([(p, n * cb * hp, ForKind.PARALLEL)], body)
    return PrimFunc("pack_nchwc", (x, out), loop)


def unpack_nchwc(
    n: int, c: int, h: int, w: int, bn: int, dtype: str = F32, in_pad: int = 0
) -> PrimFunc:
    """`out[n, c, y, x] = x[n, c // bn, y + in_pad, x + in_pad, c % bn]` (the border is skipped).

    Params: x [N, C/bn, H + 2 in_pad, W + 2 in_pad, bn]; out [N, C, H, W]."""
    cb, p0 = c // bn, in_pad
    x = Buffer("x", (n, cb, h + 2 * p0, w + 2 * p0, bn), dtype)
    out = Buffer("out", (n, c, h, w), dtype)
    p, ci, xi = Var("p"), Var("ci"), Var("xi")
    ni, cbi, yi = p // (cb * h), p // h % cb, p % h
    body = nest(
        [(ci, bn, ForKind.SERIAL), (xi, w, ForKind.VECTORIZED)],
        Store(out, (ni, cbi * bn + ci, yi, xi), x[ni, cbi, yi + p0, xi + p0, ci]),
    )
    return PrimFunc("unpack_nchwc", (x, out), nest([(p, n * cb * h, ForKind.PARALLEL)], body))


def repack_nchwc(
    n: int, c: int, h: int, w: int, bn_in: int, pad_in: int, bn_out: int, pad_out: int
) -> PrimFunc:
    """NCHWc with block `bn_in` and zero border `pad_in` -> block `bn_out`, border `pad_out`:
    `out[n, c // bn_out, y + pad_out, x + pad_out, c % bn_out] = x[n, c // bn_in, y + pad_in,
    x + pad_in, c % bn_in]`. Writes the interior only: the caller zeroes out's border once.

    Params: x [N, C/bn_in, H + 2 pad_in, W + 2 pad_in, bn_in]; out [N, C/bn_out, ..., bn_out].
    """
    if c % bn_in or c % bn_out:
        raise ValueError(f"repack_nchwc: blocks {bn_in}, {bn_out} must divide {c} channels")
    cbo = c // bn_out
    x = Buffer("x", (n, c // bn_in, h + 2 * pad_in, w + 2 * pad_in, bn_in), F32)
    out = Buffer("out", (n, cbo, h + 2 * pad_out, w + 2 * pad_out, bn_out), F32)
    p, xi, ci = Var("p"), Var("xi"), Var("ci")
    ni, cbi, yi = p // (cbo * h), p // h % cbo, p % h
    ch = cbi * bn_out + ci
    body = nest(
        [(xi, w, ForKind.SERIAL), (ci, bn_out, ForKind.VECTORIZED)],
        Store(
            out,
            (ni, cbi, yi + pad_out, xi + pad_out, ci),
            x[ni, ch // bn_in, yi + pad_in, xi + pad_in, ch % bn_in],
        ),
    )
    return PrimFunc("repack_nchwc", (x, out), nest([(p, n * cbo * h, ForKind.PARALLEL)], body))


def pack_conv_weight(w: np.ndarray, ic_bn: int, oc_bn: int, groups: int = 1) -> np.ndarray:
    """OIHW (I = input channels per group) -> [O/oc_bn, I/ic_bn, KH, KW, ic_bn, oc_bn]."""
    o, i, kh, kw = w.shape
    if o % oc_bn or i % ic_bn:
        raise ValueError(f"pack_conv_weight: blocks ({ic_bn}, {oc_bn}) do not divide {w.shape}")
    blocked = w.reshape(o // oc_bn, oc_bn, i // ic_bn, ic_bn, kh, kw)
    dt = np.int8 if w.dtype == np.int8 else np.float32
    return np.ascontiguousarray(blocked.transpose(0, 2, 4, 5, 3, 1), dtype=dt)


def pack_nchwc_numpy(x: np.ndarray, bn: int, pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """NumPy twin of `pack_nchwc` (used for constants and by tests)."""
    n, c, h, w = x.shape
    ph, pw = pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return np.ascontiguousarray(
        xp.reshape(n, c // bn, bn, h + 2 * ph, w + 2 * pw).transpose(0, 1, 3, 4, 2)
    )


def unpack_nchwc_numpy(x: np.ndarray) -> np.ndarray:
    n, cb, h, w, bn = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3).reshape(n, cb * bn, h, w))
