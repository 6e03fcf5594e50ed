"""Resize (opset 11+): modes nearest, linear and cubic (with antialias for linear and cubic),
applied separably axis by axis, as ONNX's reference implementation defines them."""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KernelCtx, kernel


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def resize_plan(ctx: KernelCtx, in_shape, roi, scales, sizes):
    """Per-axis (scale, out_len) and the full roi (ONNX rules incl. axes and
    keep_aspect_ratio_policy)."""
    rank = len(in_shape)
    axes = ctx.attr("axes", None)
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    full_scales = [1.0] * rank
    out = list(in_shape)
    if sizes is not None and np.size(sizes):
        sizes = [int(s) for s in np.atleast_1d(sizes)]
        policy = _s(ctx.attr("keep_aspect_ratio_policy", "stretch"))
        ratios = [sizes[i] / in_shape[a] for i, a in enumerate(axes)]
        if policy in ("not_larger", "not_smaller"):
            r = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                full_scales[a] = r
                out[a] = int(np.floor(r * in_shape[a] + 0.5))
        else:
            for i, a in enumerate(axes):
                full_scales[a] = ratios[i]
                out[a] = sizes[i]
    else:
        sc = [float(s) for s in np.atleast_1d(scales)]
        for i, a in enumerate(axes):
            full_scales[a] = sc[i]
            out[a] = int(np.floor(in_shape[a] * sc[i]))
    full_roi = [0.0] * rank + [1.0] * rank
    if roi is not None and np.size(roi):
        r = [float(v) for v in np.atleast_1d(roi)]
        k = len(axes)
        for i, a in enumerate(axes):
            full_roi[a] = r[i]
            full_roi[a + rank] = r[i + k]
    return full_scales, out, full_roi


def _source_coords(mode, o, scale, in_len, out_len, roi_start, roi_end, scaled_len):
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros_like(o)
    if mode == "align_corners":
        # ONNX uses the unrounded resized length (in * scale) here.
        return o * (in_len - 1) / (scaled_len - 1) if out_len > 1 else np.zeros_like(o)
    if mode == "asymmetric":
        return o / scale
    if mode == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        center = in_len / 2
        return center * (1 - adjustment) + (o + 0.5) / scale - 0.5
    if mode == "tf_crop_and_resize":
        if out_len > 1:
            return roi_start * (in_len - 1) + o * (roi_end - roi_start) * (in_len - 1) / (
                out_len - 1
            )
        return 0.5 * (roi_start + roi_end) * (in_len - 1) + np.zeros_like(o)
    raise ValueError(mode)


def _nearest_index(x, mode):
    if mode == "round_prefer_floor":
        return np.ceil(x - 0.5)
    if mode == "round_prefer_ceil":
        return np.floor(x + 0.5)
    if mode == "floor":
        return np.floor(x)
    if mode == "ceil":
        return np.ceil(x)
    raise ValueError(mode)


def _cubic_kernel(d: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with coefficient `a` at distances |d| (0 beyond 2)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _tap_weights(
    src: np.ndarray, in_len: int, mode: str, scale: float, a: float, antialias: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights), each (out_len, taps), of ONNX's linear/cubic interpolation at
    coordinates `src`, as its reference defines them: the taps are the input positions nearest
    each coordinate (ties to the left) in the input edge-padded by half the tap count, so a
    coordinate t past its left tap `base` (t in (0, 1]) weighs tap base+i by kernel(i - t).
    Cubic uses 4 taps. With `antialias` and a downscale, the kernel is stretched by 1/scale
    (more taps) and the weights are normalized."""
    base = np.ceil(src) - 1
    t = (src - base)[:, None]
    if antialias:
        s = min(scale, 1.0)
        first_tap = int(np.floor((-1 if mode == "linear" else -2) / s) + 1)
    else:
        s, first_tap = 1.0, (0 if mode == "linear" else -1)
    taps = 2 - 2 * first_tap
    d = s * (np.arange(first_tap, first_tap + taps)[None, :] - t)
    weights = np.clip(1 - np.abs(d), 0, 1) if mode == "linear" else _cubic_kernel(d, a)
    if antialias:
        weights = weights / weights.sum(axis=1, keepdims=True)
    pad = -(-taps // 2)
    first = np.clip(base + first_tap, -pad, in_len + pad - taps).astype(np.int64)
    return first[:, None] + np.arange(taps), weights


def _apply_taps(y: np.ndarray, axis: int, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Along `axis`: out[o] = sum_k weights[o, k] * y[clip(idx[o, k])] (edge values outside)."""
    out_len, taps = idx.shape
    picked = np.take(y, np.clip(idx, 0, y.shape[axis] - 1).reshape(-1), axis=axis)
    rest = picked.shape[:axis] + picked.shape[axis + 1 :]
    picked = np.moveaxis(picked, axis, -1).reshape(rest + (out_len, taps))
    return np.moveaxis((picked * weights).sum(axis=-1), -1, axis)


@kernel("Resize")
def resize(ctx: KernelCtx, x: np.ndarray, roi=None, scales=None, sizes=None) -> np.ndarray:
    mode = _s(ctx.attr("mode", "nearest"))
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.error(f"mode {mode!r} is not supported (nearest, linear and cubic are)")
    antialias = bool(ctx.attr("antialias", 0))
    if antialias and mode == "nearest":
        raise ctx.error("antialias=1 applies to linear and cubic modes only")
    ctm = _s(ctx.attr("coordinate_transformation_mode", "half_pixel"))
    nearest_mode = _s(ctx.attr("nearest_mode", "round_prefer_floor"))
    extrapolation = float(ctx.attr("extrapolation_value", 0.0))
    scales_f, out_shape, roi_f = resize_plan(ctx, x.shape, roi, scales, sizes)
    rank = x.ndim
    y = x.astype(np.float64)
    for a in range(rank):
        in_len, out_len = x.shape[a], out_shape[a]
        if in_len == out_len and scales_f[a] == 1.0 and ctm != "tf_crop_and_resize":
            continue
        o = np.arange(out_len, dtype=np.float64)
        scaled_len = in_len * scales_f[a] if sizes is None or not np.size(sizes) else out_len
        src = _source_coords(
            ctm, o, scales_f[a], in_len, out_len, roi_f[a], roi_f[a + rank], scaled_len
        )
        outside = (src < 0) | (src > in_len - 1) if ctm == "tf_crop_and_resize" else None
        if mode == "nearest":
            idx = np.clip(_nearest_index(src, nearest_mode), 0, in_len - 1).astype(np.int64)
            y = np.take(y, idx, axis=a)
        elif mode == "cubic" or antialias:
            a_coeff = float(ctx.attr("cubic_coeff_a", -0.75))
            idx, weights = _tap_weights(src, in_len, mode, scales_f[a], a_coeff, antialias)
            if ctx.attr("exclude_outside", 0):
                weights = np.where((idx < 0) | (idx >= in_len), 0.0, weights)
                weights = weights / weights.sum(axis=1, keepdims=True)
            y = _apply_taps(y, a, idx, weights)
        else:
            xs = np.clip(src, 0, in_len - 1)
            i0 = np.floor(xs).astype(np.int64)
            i1 = np.minimum(i0 + 1, in_len - 1)
            w = (xs - i0).reshape((-1,) + (1,) * (rank - a - 1))
            y = np.take(y, i0, axis=a) * (1 - w) + np.take(y, i1, axis=a) * w
        if outside is not None and outside.any():
            mask_shape = [1] * rank
            mask_shape[a] = out_len
            y = np.where(outside.reshape(mask_shape), extrapolation, y)
    return y.astype(x.dtype)
