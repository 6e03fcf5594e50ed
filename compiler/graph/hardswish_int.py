"""HardSwish on int8 values as integer arithmetic the ALU can run (MIN/MAX/ADD/SHR/MUL).

For x = q * 2^ex, an output exponent ey and an optional scalar affine after it (PP-OCR-det's
learnable `Mul(s) -> Add(t)`), y = s * HardSwish(x) + t with HardSwish(x) = x * clip(x + 3, 0,
6) / 6 is

    g = clip(q + 3 * 2^-ex, 0, 6 * 2^-ex)      exact: 3 * 2^-ex is an integer for ex <= 0
    p = q * g                                  exact: the real value is p * 2^(2 ex)
    a = ((p * m) >> k1) + B                    m / 2^(k1 + k2) ~ s * 2^(2 ex - ey) / 6: a fixed-
                                               point 1/6, the scale and the exponent change;
                                               B ~ t * 2^(k2 - ey)
    y = clip((a + 2^(k2-1)) >> k2, -128, 127)  round half up; k2 <= 15 (one SHR immediate)

`vtac.hardswish {offset, six, mult, pre_shift, bias}` is the int32 `a` and the `vtac.requantize
{shift k2}` after it the rounding shift and clip (`compiler/graph/ref/vtac_mul.py`).
Overflow-safe by construction: m is the largest multiplier with max|p * m| < 2^31 over all 256
int8 inputs, and |m|, |B| fit the ALU's signed 16-bit immediate. Without a bias, k1 + k2 is
one rounding shift split as `_requantize_steps` splits it (exact). The error against the float
function is `output_error_lsb` (docs/compiler.md gives it per exponent pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMM_MAX = (1 << 15) - 1  # the largest ALU immediate (16-bit signed)
INT32_MAX = (1 << 31) - 1
MAX_SHIFT = 45  # right shifts beyond 15 are split into several SHR immediates
MAX_IMM_SHIFT = 15  # the portable SHR immediate
# Below this input exponent (|x| < 1/8) the gate grows so large that the multiplier keeps too
# few bits (ex = -12: 0.55 LSB error); such a HardSwish stays float on the CPU.
MIN_EXPONENT = -10


@dataclass(frozen=True)
class HardSwishInt:
    offset: int  # 3 * 2^-ex
    six: int  # 6 * 2^-ex
    mult: int  # m
    pre_shift: int  # k1 (floor)
    bias: int  # B
    shift: int  # k2: the requantize's rounding shift, 1..15

    def attrs(self) -> dict:
        return {"offset": self.offset, "six": self.six, "mult": self.mult,
                "pre_shift": self.pre_shift, "bias": self.bias}  # fmt: skip


def gate_product(q: np.ndarray, offset: int, six: int) -> np.ndarray:
    """q * clip(q + offset, 0, six) in int64."""
    q = q.astype(np.int64)
    return q * np.clip(q + offset, 0, six)


def accumulator(q: np.ndarray, offset: int, six: int, mult: int, pre_shift: int, bias: int):
    """`vtac.hardswish`'s int32 result (in int64): ((q * g * mult) >> pre_shift) + bias."""
    return ((gate_product(q, offset, six) * mult) >> pre_shift) + bias


def hardswish_int(ex: int, ey: int, scale: float = 1.0, shift_by: float = 0.0) -> HardSwishInt:
    """The integer constants for input exponent `ex`, output exponent `ey` and the affine
    `scale * HardSwish(x) + shift_by`; ValueError when the ALU cannot hold them."""
    if ex > 0:
        raise ValueError(f"input exponent {ex} > 0: the offset 3 is not on the int8 grid")
    if ex < MIN_EXPONENT:
        raise ValueError(f"input exponent {ex} < {MIN_EXPONENT}: the fixed-point 1/6 would keep "
                         "too few bits")  # fmt: skip
    offset, six = 3 << -ex, 6 << -ex
    q = np.arange(-128, 128)
    pmax = int(np.abs(gate_product(q, offset, six)).max())
    c = scale * 2.0 ** (2 * ex - ey) / 6.0  # real value of one unit of p, in output LSBs
    t = shift_by * 2.0**-ey  # the additive part, in output LSBs
    exact = _round_half_up(q, offset, six, 2 * ex - ey) if (scale, shift_by) == (1.0, 0.0) else None
    nearest = None
    for s in range(MAX_SHIFT, 0, -1):
        for m in sorted({int(np.floor(c * 2.0**s)), int(round(c * 2.0**s))}, key=abs):
            if not (1 <= abs(m) <= IMM_MAX and pmax * abs(m) <= INT32_MAX):
                continue
            for k2 in range(min(MAX_IMM_SHIFT, s), 0, -1):  # B must fit an immediate
                b0 = int(round(t * 2.0**k2))
                if abs(b0) > IMM_MAX:
                    continue
                # A multiplier a hair small rounds exact ties down; a few units of B (each
                # 2^-k2 LSB) lift them back without moving any other value across a boundary:
                # the results are then exactly HardSwish rounded half up, like any requantize.
                for d in (0, *(1 << i for i in range(10))) if exact is not None else (0,):
                    hs = HardSwishInt(offset, six, m, s - k2, b0 + d, k2)
                    a = accumulator(q, offset, six, m, s - k2, b0 + d)
                    if abs(b0 + d) > IMM_MAX or np.abs(a).max() + (1 << (k2 - 1)) > INT32_MAX:
                        break
                    if exact is None or np.array_equal(_unclipped(a, k2), exact):
                        return hs
                    nearest = nearest or hs if d == 0 and m == int(round(c * 2.0**s)) else nearest
                break
    if nearest is not None:
        return nearest
    raise ValueError(f"exponents ({ex}, {ey}), scale {scale}, shift {shift_by}: no multiplier/"
                     "shift pair fits int32 and the ALU immediates")  # fmt: skip


def _unclipped(a: np.ndarray, k2: int) -> np.ndarray:
    return (a + (1 << (k2 - 1))) >> k2


def _round_half_up(q: np.ndarray, offset: int, six: int, k: int) -> np.ndarray:
    """floor(p * 2^k / 6 + 1/2) exactly (integers), p = q * g: HardSwish rounded half up."""
    p = gate_product(q, offset, six)
    num, den = (p << k, 6) if k >= 0 else (p, 6 << -k)
    return (2 * num + den) // (2 * den)


def reference(q: np.ndarray, hs: HardSwishInt) -> np.ndarray:
    """The int8 result of the integer formula (round half up, then clip)."""
    a = accumulator(q, hs.offset, hs.six, hs.mult, hs.pre_shift, hs.bias)
    return np.clip((a + (1 << (hs.shift - 1))) >> hs.shift, -128, 127).astype(np.int8)


def output_error_lsb(ex: int, ey: int, scale: float = 1.0, shift_by: float = 0.0):
    """(max |y_int - (scale * HardSwish(x) + shift_by) / 2^ey| over all 256 int8 inputs, in
    output LSBs, with the float result clipped to the int8 range; how many of the 256 outputs
    differ from the float path dequantize -> HardSwish -> quantize (round half to even))."""
    q = np.arange(-128, 128)
    x = q * 2.0**ex
    f = scale * (x * np.clip(x + 3, 0, 6) / 6) + shift_by
    want = np.clip(f / 2.0**ey, -128, 127)
    got = reference(q, hardswish_int(ex, ey, scale, shift_by)).astype(np.float64)
    return float(np.abs(got - want).max()), int(np.count_nonzero(got != np.rint(want)))
