"""Per-channel requantization on the accelerator: a tensor-operand SHR by a per-channel shift
row, with every rounding constant folded into the (per-channel) bias.

A group's epilogue with a per-channel vector (`vtac.requantize(acc, shifts)` or the align
vector of `vtac.add(acc, r, align)`, `compiler/graph/ref/vtac_ops.py`) becomes

    ("bias",)          b[c] + rounding[c]       (a zero bias when the layer has none)
    ("shr_chan",)      acc >> t[c], t[c] in 0..15: one tensor SHR whose source is a shift row
                       in the accumulator SRAM, loaded once per output-channel tile
    ("shr", k)...      the common part of the shift, as immediates (<= 15 each)
    ... residual, clip as before

For s[c] = k + t[c] >= 0: floor((a + 2^(s[c]-1)) / 2^s[c]) == floor(floor((a + 2^(s[c]-1)) /
2^t[c]) / 2^k), so the split is exact; the rounding constant 2^(s[c]-1) cannot be an ALU
immediate (it differs per channel), so it rides on the bias: a constant c added after steps
between the bias and it moves before them exactly as c * 2^n through a right shift by n
(floor((x + c 2^n) / 2^n) = floor(x / 2^n) + c), unchanged through a residual add, as c / 2^n
through a left shift when 2^n divides it, and not at all past a clip. The tensor part takes as
much of the shift as fits (t[c] = s[c] - k with k = max(0, max s - 15)): most layers then need
no immediate SHR at all, and the per-channel cost is one tensor SHR (two cycles a row on the
Chisel ALU) instead of one immediate SHR (one cycle).

With the ALU's MUL (free per-channel scales, `requant="mul"`), the graph's
`fixed_point(a, p, M, q)` (compiler/graph/ref/vtac_ops.py) becomes

    ("bias",)          b[c] + 2^(p[c]-1)        the pre-shift's rounding, folded as above
    ("shr_chan",)      the pre-shift p[c] (tensor part; immediates for the rest, or all of it
                       when every channel shifts alike)
    ("clip", -C, C)    C = MUL_CLAMP: the product below cannot overflow int32
    ("mul_chan",)      * M[c]: one tensor MUL by a multiplier row, loaded like the shift row
    ("shr", ..)        the rounding shift by q: immediates, its 2^(q-1) an ALU add (it cannot
    ("add_imm", ..)    move back across the clamp or the product), split where q > 15 as a
    ("shr", ..)        scalar requantize is
    ... residual, clip as before
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.graph.ref.vtac_ops import MUL_CLAMP, MUL_MAX

MAX_TENSOR_SHIFT = 15  # portable tensor-SHR amounts 0..15 (vta-isa.md §2.5)


class PerChannelError(ValueError):
    """A per-channel epilogue the accelerator cannot run; the message says why."""


@dataclass
class ChannelEpilogue:
    steps: list[tuple]  # the op's step list: ("bias",) first, at most one ("shr_chan",)
    bias_add: np.ndarray  # int64 per channel: rounding constants to add to the bias
    shift_row: np.ndarray | None  # int32 per channel, 0..15: the tensor SHR amounts
    zero_bias: bool  # the layer had no bias: the ("bias",) step adds only `bias_add`
    mult_row: np.ndarray | None = None  # int32 per channel: the tensor MUL's multipliers


def requantize_steps(name: str, shift: int, extra: np.ndarray, lo: int, hi: int) -> list[tuple]:
    """Steps of `vtac.requantize` with per-channel shifts s[c] = shift + extra[c]: a pending
    per-channel rounding constant ("add_vec", r), the tensor part ("shr_vec", t), the common
    immediate part, then the clip."""
    s = shift + extra.astype(np.int64)
    if s.min() < 0:
        raise PerChannelError(
            f"requantize {name!r}: per-channel shifts down to {int(s.min())}; the tensor SHR "
            "shifts right only (portable amounts 0..15)"
        )
    if s.max() - s.min() > MAX_TENSOR_SHIFT:
        raise PerChannelError(
            f"requantize {name!r}: per-channel shifts span {int(s.min())}..{int(s.max())}, more "
            f"than the tensor SHR's {MAX_TENSOR_SHIFT} (quantize clamps weight exponents to it)"
        )
    common = max(0, int(s.max()) - MAX_TENSOR_SHIFT)
    rounding = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    steps: list[tuple] = [("add_vec", rounding), ("shr_vec", s - common)]
    while common > 0:
        k = min(common, MAX_TENSOR_SHIFT)
        steps.append(("shr", k))
        common -= k
    steps.append(("clip", lo, hi))
    return steps


def align_steps(name: str, align: np.ndarray) -> list[tuple]:
    """Steps of `vtac.add`'s per-channel rounding right shift of its accumulator input."""
    k = align.astype(np.int64)
    if k.min() < 0 or k.max() > MAX_TENSOR_SHIFT:
        raise PerChannelError(
            f"add {name!r}: per-channel align shifts {int(k.min())}..{int(k.max())} outside the "
            f"tensor SHR's portable 0..{MAX_TENSOR_SHIFT}"
        )
    rounding = np.where(k > 0, np.left_shift(1, np.maximum(k - 1, 0)), 0)
    return [("add_vec", rounding), ("shr_vec", k)]


def fixed_point_steps(name: str, pre: np.ndarray, mult: np.ndarray, shift: int) -> list[tuple]:
    """Steps of the graph's `fixed_point(a, pre, mult, shift)`: rounding pre-shift (per-channel
    rounding constant, tensor and immediate shifts), clamp, tensor MUL, rounding shift."""
    p, m = pre.astype(np.int64), mult.astype(np.int64)
    if p.min() < 0 or shift < 0:
        raise PerChannelError(f"{name!r}: fixed-point shifts must be >= 0 (right shifts)")
    if np.abs(m).max(initial=0) > MUL_MAX:
        raise PerChannelError(f"{name!r}: multipliers beyond {MUL_MAX} could overflow int32")
    if p.max() - p.min() > MAX_TENSOR_SHIFT:
        raise PerChannelError(
            f"{name!r}: pre-shifts span {int(p.min())}..{int(p.max())}, more than the tensor "
            f"SHR's {MAX_TENSOR_SHIFT}"
        )
    steps: list[tuple] = []
    if p.any():
        steps.append(("add_vec", np.where(p > 0, np.left_shift(1, np.maximum(p - 1, 0)), 0)))
        uniform = (p == p[0]).all()
        common = int(p[0]) if uniform else max(0, int(p.max()) - MAX_TENSOR_SHIFT)
        if not uniform:
            steps.append(("shr_vec", p - common))
        steps += _imm_shifts(common)
    steps += [("clip", -MUL_CLAMP, MUL_CLAMP), ("mul_vec", m)]
    if shift > 0:
        # floor((x + 2^(q-1)) / 2^q) == floor((floor(x / 2^k) + 2^(q-1-k)) / 2^(q-k)), k < q:
        # the part beyond the immediate range first, so that 2^(q-1-k) fits an immediate.
        k = max(0, shift - MAX_TENSOR_SHIFT)
        steps += _imm_shifts(k)
        steps += [("add_imm", 1 << (shift - k - 1)), ("shr", shift - k)]
    return steps


def _imm_shifts(n: int) -> list[tuple]:
    out = []
    while n > 0:
        out.append(("shr", min(n, MAX_TENSOR_SHIFT)))
        n -= out[-1][1]
    return out


def has_vectors(steps: list[tuple]) -> bool:
    return any(st[0] in ("add_vec", "shr_vec", "mul_vec") for st in steps)


def fold_channel_steps(
    steps: list[tuple],
    channels: int,
    where: str,
    bias: np.ndarray | None = None,
    bias_range: tuple[int, int] = (-(1 << 31), (1 << 31) - 1),
) -> ChannelEpilogue:
    """Move every per-channel rounding constant (and every scalar `add_imm` that can follow)
    into the bias, and the per-channel shift into one ("shr_chan",) step.

    A scalar `add_imm` is folded only while `bias` (the layer's own, default zeros) plus what
    was folded stays in `bias_range` (e.g. what the GEMM unit adds exactly): else it stays one
    ALU micro-op, cheaper than moving the whole bias to the ALU."""
    base = np.zeros(channels, np.int64) if bias is None else np.asarray(bias, np.int64)
    zero_bias = ("bias",) not in steps
    if zero_bias:
        steps = [("bias",)] + list(steps)
    if steps.index(("bias",)) != 0:
        raise PerChannelError(f"{where}: the bias must come first in a per-channel epilogue")
    if sum(st[0] == "shr_vec" for st in steps) > 1:
        raise PerChannelError(f"{where}: more than one per-channel shift (one shift row)")
    if sum(st[0] == "mul_vec" for st in steps) > 1:
        raise PerChannelError(f"{where}: more than one per-channel multiply (one multiplier row)")
    bias_add = np.zeros(channels, dtype=np.int64)
    out: list[tuple] = [("bias",)]
    shift_row = mult_row = None
    for j, st in enumerate(steps[1:], start=1):
        if st[0] == "shr_vec":
            shift_row = np.asarray(st[1], dtype=np.int32)
            out.append(("shr_chan",))
            continue
        if st[0] == "mul_vec":
            mult_row = np.asarray(st[1], dtype=np.int32)
            out.append(("mul_chan",))
            continue
        if st[0] not in ("add_vec", "add_imm"):
            out.append(st)
            continue
        moved = _move_before(np.broadcast_to(np.asarray(st[1], np.int64), (channels,)), steps[1:j])
        if moved is not None and st[0] == "add_imm":
            total = base + bias_add + moved
            if total.min() < bias_range[0] or total.max() > bias_range[1]:
                moved = None  # keep the ALU add
        if moved is None:
            if st[0] == "add_vec":
                raise PerChannelError(
                    f"{where}: a per-channel rounding constant cannot move into the bias "
                    "(a clip or an odd left shift before it)"
                )
            out.append(st)
        else:
            bias_add += moved
    return ChannelEpilogue(out, bias_add, shift_row, zero_bias, mult_row)


def _move_before(c: np.ndarray, between: list[tuple]) -> np.ndarray | None:
    """The per-channel constant that, added before `between`, equals adding `c` after it."""
    for st in reversed(between):
        kind = st[0]
        if kind == "residual" or kind in ("add_vec", "add_imm"):
            continue
        if kind == "shr_vec":
            c = c << np.asarray(st[1], dtype=np.int64)
        elif kind == "shr" and st[1] >= 0:
            c = c << st[1]
        elif kind == "shr":  # a left shift by n: only multiples of 2^n move back through it
            n = -st[1]
            if (c % (1 << n)).any():
                return None
            c = c >> n
        else:
            return None
    return c
