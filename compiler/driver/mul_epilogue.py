"""Epilogue steps of the ALU's MUL ops (`HwConfig.ALU_MUL`): `vtac.hardswish` as the step
("hardswish", offset, six, mult, pre_shift, bias) of `compiler.vta.ops._epilogue`, and the
requantize clamps after it that no value can reach, dropped (each bound is one ALU micro-op per
output row: HardSwish's result is >= -0.375, and often below the upper bound too)."""

from __future__ import annotations

import numpy as np

from compiler.graph.hardswish_int import IMM_MAX, accumulator
from compiler.graph.ir import Node

_VALUE_STEPS = {"shr", "add_imm", "clip", "max", "min"}


HARDSWISH_ATTRS = ("offset", "six", "mult", "pre_shift", "bias")


def hardswish_step(node: Node) -> tuple:
    return ("hardswish", *(int(node.attr(k, 0)) for k in HARDSWISH_ATTRS))


def hardswish_values(offset: int, six: int, mult: int, pre_shift: int, bias: int) -> np.ndarray:
    """Every int32 a `vtac.hardswish` of an int8 value can make."""
    return accumulator(np.arange(-128, 128), offset, six, mult, pre_shift, bias)


def drop_idle_clips(steps: list[tuple], values: np.ndarray) -> list[tuple]:
    """`steps` (shifts, additions, clamps) without the clamp bounds that none of `values` (the
    int32s entering them) reaches."""
    v = values.astype(np.int64)
    out: list[tuple] = []
    for st in steps:
        kind = st[0]
        if kind not in _VALUE_STEPS:
            raise ValueError(f"unexpected epilogue step {st!r}")
        lo, hi = {"clip": st[1:3], "max": (st[1], None), "min": (None, st[1])}.get(kind, (0, 0))
        if kind in ("clip", "max", "min"):
            low = lo is not None and v.min() < lo
            high = hi is not None and v.max() > hi
            out += [("clip", lo, hi)] if low and high else [("max", lo)] if low else []
            out += [("min", hi)] if high and not low else []
            v = np.clip(v, lo, hi)
            continue
        out.append(st)
        if kind == "shr":
            v = v >> st[1] if st[1] >= 0 else v << -st[1]
        else:
            v = v + st[1]
    return out


def drop_idle_clips_after_hardswish(steps: list[tuple]) -> list[tuple]:
    """Each ("hardswish", ...) step's following shifts/additions/clamps with `drop_idle_clips`,
    and its bias B moved into the requantize's rounding ADD right after it when the sum fits an
    immediate (one ALU micro-op a row less; additions commute)."""
    out: list[tuple] = []
    i = 0
    while i < len(steps):
        out.append(steps[i])
        i += 1
        if out[-1][0] != "hardswish":
            continue
        j = i
        while j < len(steps) and steps[j][0] in _VALUE_STEPS:
            j += 1
        rest = drop_idle_clips(steps[i:j], hardswish_values(*out[-1][1:]))
        hs = out[-1]
        if hs[5] and rest and rest[0][0] == "add_imm" and abs(rest[0][1] + hs[5]) <= IMM_MAX:
            out[-1] = (*hs[:5], 0)
            rest = [("add_imm", rest[0][1] + hs[5]), *rest[1:]]
        out += rest
        i = j
    return out
