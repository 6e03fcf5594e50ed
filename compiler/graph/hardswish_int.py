"""HardSwish on int8 values as integer arithmetic the ALU can run (MIN/MAX/ADD/SHR/MUL).

For x = q * 2^ex and an output exponent ey, HardSwish(x) = x * clip(x + 3, 0, 6) / 6 is

    g = clip(q + 3 * 2^-ex, 0, 6 * 2^-ex)        exact: 3 * 2^-ex is an integer for ex <= 0
    p = q * g                                    exact: the real value is p * 2^(2 ex)
    y = clip(round(p * m / 2^s), -128, 127)      m / 2^s ~ 2^(2 ex - ey) / 6 (a fixed-point 1/6
                                                 and the exponent change), round half up

`vtac.hardswish {offset, six, mult}` is the int32 `p * m` and the `vtac.requantize {shift s}`
after it the rounding shift and clip (`compiler/graph/ref/vtac_mul.py`). Overflow-safe by
construction: m is the largest multiplier with max|p| * m + 2^(s-1) < 2^31 over all 256 int8
inputs and m below 2^15 (the ALU's signed 16-bit immediate). The error against the float
function is `output_error_lsb` (docs/compiler.md lists it per exponent pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMM_MAX = (1 << 15) - 1  # the largest ALU immediate (16-bit signed)
INT32_MAX = (1 << 31) - 1
MAX_SHIFT = 45  # right shifts beyond 15 are split into several SHR immediates
# Below this input exponent (|x| < 1/8) the gate grows so large that the multiplier keeps too
# few bits (ex = -12: 0.55 LSB error); such a HardSwish stays float on the CPU.
MIN_EXPONENT = -10


@dataclass(frozen=True)
class HardSwishInt:
    offset: int  # 3 * 2^-ex
    six: int  # 6 * 2^-ex
    mult: int  # m
    shift: int  # s

    def attrs(self) -> dict:
        return {"offset": self.offset, "six": self.six, "mult": self.mult}


def gate_product(q: np.ndarray, offset: int, six: int) -> np.ndarray:
    """q * clip(q + offset, 0, six) in int64."""
    q = q.astype(np.int64)
    return q * np.clip(q + offset, 0, six)


def hardswish_int(ex: int, ey: int) -> HardSwishInt:
    """The integer constants for input exponent `ex` and output exponent `ey`; ValueError
    when the ALU cannot hold them (ex > 0: 3 is not on the input grid; offsets beyond the
    16-bit immediate)."""
    if ex > 0:
        raise ValueError(f"input exponent {ex} > 0: the offset 3 is not on the int8 grid")
    if ex < MIN_EXPONENT:
        raise ValueError(f"input exponent {ex} < {MIN_EXPONENT}: the fixed-point 1/6 would keep "
                         "too few bits")  # fmt: skip
    offset, six = 3 << -ex, 6 << -ex
    q = np.arange(-128, 128)
    pmax = int(np.abs(gate_product(q, offset, six)).max())
    c = 2.0 ** (2 * ex - ey) / 6.0  # real value of one unit of p, in output LSBs
    for s in range(MAX_SHIFT, 0, -1):
        m = int(round(c * 2.0**s))
        if 1 <= m <= IMM_MAX and pmax * m + (1 << (s - 1)) <= INT32_MAX:
            return HardSwishInt(offset, six, m, s)
    raise ValueError(f"exponents ({ex}, {ey}): no multiplier/shift pair fits int32")


def reference(q: np.ndarray, hs: HardSwishInt) -> np.ndarray:
    """The int8 result of the integer formula (round half up, then clip)."""
    p = gate_product(q, hs.offset, hs.six) * hs.mult
    return np.clip((p + (1 << (hs.shift - 1))) >> hs.shift, -128, 127).astype(np.int8)


def output_error_lsb(ex: int, ey: int) -> tuple[float, int]:
    """(max |y_int - HardSwish(x) / 2^ey| over all 256 int8 inputs, in output LSBs, with the
    float result clipped to the int8 range; how many of the 256 outputs differ from the float
    path dequantize -> HardSwish -> quantize (round half to even))."""
    q = np.arange(-128, 128)
    x = q * 2.0**ex
    want = np.clip(x * np.clip(x + 3, 0, 6) / 6 / 2.0**ey, -128, 127)
    got = reference(q, hardswish_int(ex, ey)).astype(np.float64)
    return float(np.abs(got - want).max()), int(np.count_nonzero(got != np.rint(want)))
