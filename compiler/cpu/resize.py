"""Resize (nearest and bilinear) on NCHW, as a loop-IR generator driven by index tables.

The coordinate mapping (ONNX `coordinate_transformation_mode`, `nearest_mode`) is computed once
on the host into small per-axis tables, passed as kernel parameters:
    nearest:  iy [OH], ix [OW]                       (int32 source indices)
    bilinear: y0, y1 [OH], wy [OH], x0, x1 [OW], wx [OW]  (int32 indices, float32 weights)
so the kernel itself is a gather over the output: a tensor expression with the default
data-parallel CPU schedule (`te_map`), parallel over (n, c, y), vectorized over x.
"""

from __future__ import annotations

import numpy as np

from compiler.cpu.nest import MapKnobs
from compiler.cpu.te_map import te_map
from compiler.tir.nodes import Const, PrimFunc

F32 = "float32"


def source_coords(out_len: int, in_len: int, mode: str) -> np.ndarray:
    """Source coordinate of each output position (float64), per ONNX Resize."""
    scale = out_len / in_len
    o = np.arange(out_len, dtype=np.float64)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros(out_len)
    if mode == "align_corners":
        return o * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros(out_len)
    if mode == "asymmetric":
        return o / scale
    raise ValueError(f"resize: coordinate_transformation_mode {mode!r} not supported")


def nearest_table(out_len, in_len, mode="asymmetric", nearest_mode="floor") -> np.ndarray:
    c = source_coords(out_len, in_len, mode)
    if nearest_mode == "floor":
        i = np.floor(c)
    elif nearest_mode == "ceil":
        i = np.ceil(c)
    elif nearest_mode == "round_prefer_floor":
        i = np.ceil(c - 0.5)
    elif nearest_mode == "round_prefer_ceil":
        i = np.floor(c + 0.5)
    else:
        raise ValueError(f"resize: nearest_mode {nearest_mode!r} not supported")
    return np.clip(i, 0, in_len - 1).astype(np.int32)


def linear_table(out_len, in_len, mode="half_pixel"):
    c = np.clip(source_coords(out_len, in_len, mode), 0, in_len - 1)
    i0 = np.floor(c).astype(np.int32)
    i1 = np.minimum(i0 + 1, in_len - 1).astype(np.int32)
    return i0, i1, (c - i0).astype(np.float32)


def resize(shape, out_hw: tuple[int, int], method: str, knobs: MapKnobs | None = None) -> PrimFunc:
    """Params: x [N, C, H, W], the tables above for `method`, out [N, C, OH, OW]; `knobs` for
    the output shape (default `nest.default_map_knobs`)."""
    n, c, h, w = shape
    oh, ow = out_hw
    x_in = ("x", (n, c, h, w), F32)
    if method == "nearest":
        tables = [("iy", (oh,), "int32"), ("ix", (ow,), "int32")]

        def nearest(t, idx):
            x, iy, ix = t
            b, ch, y, xx = idx
            return x[b, ch, iy[y], ix[xx]]

        return te_map("resize_nearest", (n, c, oh, ow), [x_in] + tables, nearest, knobs=knobs)
    if method != "bilinear":
        raise ValueError(f"resize: method {method!r} not supported (nearest, bilinear)")
    tables = [
        ("y0", (oh,), "int32"),
        ("y1", (oh,), "int32"),
        ("wy", (oh,), F32),
        ("x0", (ow,), "int32"),
        ("x1", (ow,), "int32"),
        ("wx", (ow,), F32),
    ]
    one = Const(1.0, F32)

    def bilinear(t, idx):
        x, y0, y1, wy, x0, x1, wx = t
        b, ch, y, xx = idx
        top = x[b, ch, y0[y], x0[xx]] * (one - wx[xx]) + x[b, ch, y0[y], x1[xx]] * wx[xx]
        bot = x[b, ch, y1[y], x0[xx]] * (one - wx[xx]) + x[b, ch, y1[y], x1[xx]] * wx[xx]
        return top * (one - wy[y]) + bot * wy[y]

    return te_map("resize_bilinear", (n, c, oh, ow), [x_in] + tables, bilinear, knobs=knobs)
