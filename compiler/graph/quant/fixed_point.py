"""Free (non-power-of-two) per-channel scales, requantized with the ALU's MUL.

Used by `quantize_int8(..., requant="mul")` (the default when the config has `ALU_MUL`).
Channel c of a weight gets its own float scale s_w[c] (max |W_c| / 127, or the least squared
error among a few fractions of it), so its integers use the whole int8 range; an accumulator
channel then has scale s_x * s_w[c], and reaching a target scale s_t takes the real factor
m[c] = s_x * s_w[c] / s_t. `plan_multipliers` realizes m as the graph reference's
`fixed_point(a, p, M, q)` (compiler/graph/ref/vtac_ops.py):

    a1 = clip(round(a / 2**p[c]), -C, C)      C = MUL_CLAMP = 2**15 - 1 (an ALU immediate)
    y  = round(a1 * M[c] / 2**q)              M[c] <= MUL_MAX (the product fits int32)

Why this is overflow-safe by construction, for any accumulator: the clamp bounds the product
(|a1 * M| <= C * MUL_MAX < 2**31 - 2**14), and p[c] is chosen so that the clamp never changes
the final result: C * m[c] * 2**p[c] >= reach, where `reach` is how far (in target units) the
result saturates the consumer's clip anyway (128 for an int8 output; more before a residual
add, whose other operand can pull the sum back). The result is monotone in a1, so checking the
two clamp values (done exactly, in integers, after rounding M) proves it for every input.
Precision: p[c] is the smallest such shift, so a1 keeps ~C / reach >= 256 steps per target
unit (the pre-shift's rounding is <= 1/512 of an output step) and M[c] has 15-16 bits (its
rounding is <= 2**-15 relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.graph.ref.vtac_ops import INT8_MAX, MUL_CLAMP, MUL_MAX, fixed_point

# Spread of the per-channel weight scales: the pre-shifts then differ by at most 15, the
# portable tensor-SHR range (vta-isa.md §2.5). A channel far below the largest is quantized
# more coarsely than it could be, never clipped.
MAX_SCALE_SPREAD = 2.0**-14
# Fractions of max |W_c| / 127 tried by the least-squared-error weight scale.
MSE_FRACTIONS = np.linspace(0.6, 1.0, 17)


class FixedPointError(ValueError):
    """A rescale that the fixed-point form cannot realize (the message names the node)."""


@dataclass(frozen=True)
class FixedPoint:
    pre: np.ndarray  # int64 per channel, >= 0: round-shift before the clamp
    mult: np.ndarray  # int64 per channel, 0..MUL_MAX
    shift: int  # >= 0: round-shift after the product

    def apply(self, a: np.ndarray, axis_shape) -> np.ndarray:
        """`fixed_point` on `a` with the vectors reshaped to `axis_shape` (a broadcast shape)."""
        return fixed_point(a, self.pre.reshape(axis_shape), self.mult.reshape(axis_shape),
                           self.shift)  # fmt: skip


def weight_scales(w: np.ndarray, weight_mse: bool = False) -> np.ndarray:
    """One float scale per output channel (axis 0): max |W_c| / 127, or with `weight_mse` the
    fraction of it (MSE_FRACTIONS) with the least squared rounding error; an all-zero channel
    takes the largest scale; clamped to >= max * MAX_SCALE_SPREAD."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    amax = np.abs(flat).max(axis=1)
    if not amax.any():
        return np.ones(w.shape[0])
    scale = amax / INT8_MAX
    if weight_mse:
        best, err = scale.copy(), np.full(w.shape[0], np.inf)
        for f in MSE_FRACTIONS:
            s = np.where(amax > 0, scale * f, 1.0)[:, None]
            e = ((np.clip(np.rint(flat / s), -INT8_MAX, INT8_MAX) * s - flat) ** 2).sum(axis=1)
            better = e < err
            best, err = np.where(better, s[:, 0], best), np.where(better, e, err)
        scale = best
    top = scale[amax > 0].max()
    return np.where(amax > 0, np.maximum(scale, top * MAX_SCALE_SPREAD), top)


def quantize_weights_scaled(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """rint(W / s_w[c]) clipped to [-127, 127], int8, channel c along axis 0."""
    s = scales.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.clip(np.rint(w / s), -INT8_MAX, INT8_MAX).astype(np.int8)


def plan_multipliers(m: np.ndarray, reach: int, what: str) -> FixedPoint:
    """The fixed-point form of the positive real factors `m` (one per channel) such that a
    value clamped by `fixed_point` lands at or beyond +-`reach` target units (module
    docstring); FixedPointError naming `what` when a factor is too large for int32."""
    m = np.asarray(m, np.float64).reshape(-1)
    if not (np.isfinite(m).all() and (m > 0).all()):
        raise FixedPointError(f"{what}: rescale factors must be finite and > 0")
    # Smallest p >= 0 with C * m * 2**p >= reach, with a little room for M's rounding.
    need = reach * (1 + 2.0**-12) / (MUL_CLAMP * m)
    pre = np.maximum(0, np.ceil(np.log2(need))).astype(np.int64)
    pre = np.maximum(pre, pre.max() - 15)  # one tensor SHR row: amounts within 15 of each other
    for _ in range(3):  # at most a bump or two where float rounding of log2 fell short
        mult, q = _round_multipliers(m * 2.0**pre, what)
        fp = FixedPoint(pre, mult, q)
        short = _clamp_reach(fp) < reach
        if not short.any():
            return fp
        pre = pre + short
    raise FixedPointError(f"{what}: no pre-shift makes the clamp saturate (reach {reach})")


def _round_multipliers(u: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """M = round(u * 2**q) with the largest q whose multipliers all stay <= MUL_MAX."""
    q = int(np.floor(np.log2(MUL_MAX / u.max())))
    while q >= 0 and np.rint(u.max() * 2.0**q) > MUL_MAX:
        q -= 1
    if q < 0:
        raise FixedPointError(
            f"{what}: rescale factor {u.max():.4g} after the pre-shift needs a multiplier above "
            f"{MUL_MAX}; the accumulator is coarser than its target"
        )
    q = min(q, 62 - 16)  # keep 2**q exact in int64 arithmetic
    return np.rint(u * 2.0**q).astype(np.int64), q


def _clamp_reach(fp: FixedPoint) -> np.ndarray:
    """Per channel, the smaller |result| of the two clamp values +-C (exact integers; the
    pre-shift is before the clamp, so it plays no part)."""
    hi = fixed_point(np.full(fp.mult.shape, MUL_CLAMP, np.int64), 0, fp.mult, fp.shift)
    lo = fixed_point(np.full(fp.mult.shape, -MUL_CLAMP, np.int64), 0, fp.mult, fp.shift)
    return np.minimum(hi, -lo)
