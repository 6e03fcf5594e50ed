"""Per-output-channel power-of-two weight exponents, and the per-channel requantize vectors.

With per-channel weights, channel c of an anchor's int32 accumulator has exponent
e_x + e_w[c]; requantizing it to the output exponent e_y shifts by s[c] = e_y - e_x - e_w[c].
`quantize_int8` writes that as `vtac.requantize(acc, shifts) {shift = min s, ...}` with
`shifts[c] = s[c] - min s` (or, before a residual `vtac.add`, aligns the accumulator to one
exponent with the add's per-channel rounding right shift, see `compiler/graph/ref/vtac_ops.py`).

The accelerator applies the per-channel part as one tensor-operand SHR whose amounts must stay
in 0..15 (the portable range, vta-isa.md §2.5), so a channel's exponent is clamped to at least
max_c e_w[c] - MAX_CHANNEL_SPREAD: such a channel is quantized a little more coarsely than it
could be, never clipped.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.quant.calibrate import best_exponent, pow2_exponent
from compiler.graph.ref.vtac_ops import INT8_MAX

MAX_CHANNEL_SPREAD = 15  # max_c e_w[c] - min_c e_w[c]: the portable tensor-SHR amounts 0..15


def weight_exponents(w: np.ndarray, weight_mse: bool = False, per_channel: bool = True):
    """One exponent per output channel (axis 0 of OIHW / [N, K] weights), as an int64 vector.

    Per channel: from that channel's max |W| (`weight_mse`: the least-squared-error choice of
    `best_exponent` on that channel), an all-zero channel taking the tensor's exponent, then
    clamped to [max - MAX_CHANNEL_SPREAD, max]. `per_channel=False`: the tensor's exponent
    repeated (the per-tensor scheme)."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    e_tensor = pow2_exponent(float(np.abs(flat).max()))
    if not per_channel:
        e = best_exponent(flat.ravel(), e_tensor) if weight_mse else e_tensor
        return np.full(w.shape[0], e, dtype=np.int64)
    exps = np.empty(w.shape[0], dtype=np.int64)
    for c, row in enumerate(flat):
        amax = float(np.abs(row).max())
        if amax == 0.0:
            exps[c] = e_tensor
            continue
        e = pow2_exponent(amax)
        exps[c] = best_exponent(row, e) if weight_mse else e
    return np.maximum(exps, exps.max() - MAX_CHANNEL_SPREAD)


def quantize_weights(w: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """rint(W / 2**e_w[c]) clipped to [-127, 127], int8, channel c along axis 0."""
    scale = 2.0 ** exps.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.clip(np.rint(w / scale), -INT8_MAX, INT8_MAX).astype(np.int8)


def requantize_shifts(shifts: np.ndarray) -> tuple[int, np.ndarray | None]:
    """(common shift, per-channel remainder >= 0 or None when every channel shifts alike)."""
    common = int(shifts.min())
    rest = shifts - common
    return common, (rest.astype(np.int32) if rest.any() else None)
