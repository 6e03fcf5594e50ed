"""Depthwise conv2d (one filter per channel) in NCHWc, as a loop-IR generator.

    data    [N, C/bn, H + 2 pad_h, W + 2 pad_w, bn]   (padded, see layout.pack_nchwc)
    weight  [C/bn, KH, KW, bn]
    bias    [C/bn, bn]                                   (optional)
    out     [N, C/bn, OH, OW, bn]

A tensor expression with a CPU schedule, lowered by the shared `compiler.tir.lower`: channels
are the vector lanes, so every load is a contiguous vector; the loop over (n, channel block,
output row) is fused and parallel; a tile of `ow_tile` output pixels of a row stays in
registers (a local accumulator) across the KH x KW taps, all unrolled. The schedule is a
function of `DepthwiseKnobs` (`default_depthwise_knobs`; `depthwise_knob_space` for a tuner).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from compiler.cpu.conv2d import Conv2dShape
from compiler.schedule import create_schedule
from compiler.te import compute, placeholder, reduce_axis, sum_reduce
from compiler.tir.lower import lower
from compiler.tir.nodes import BinOp, Const, PrimFunc

F32 = "float32"


@dataclass(frozen=True)
class DepthwiseKnobs:
    """bn: channels per block (the vector lanes of every access; must divide C).
    ow_tile: output pixels of a row whose accumulators stay in registers across the taps."""

    bn: int
    ow_tile: int


def default_depthwise_knobs(shape: Conv2dShape, lanes: int) -> DepthwiseKnobs:
    """One vector register of channels per pixel, a tile of up to 8 pixels."""
    return DepthwiseKnobs(lanes, min(shape.out_hw[1], 8))


def depthwise_knob_space(
    shape: Conv2dShape, lanes: int, registers: int = 16
) -> list[DepthwiseKnobs]:
    """Blocks of 1 or 2 vector registers of channels that divide C, tiles whose accumulators
    leave two registers free (for the input and the weight vector)."""
    ow = shape.out_hw[1]
    out = []
    for bn in (lanes, 2 * lanes):
        if shape.c % bn:
            continue
        for tile in sorted({min(t, ow) for t in (1, 2, 4, 6, 8, 12)}):
            if (bn // lanes) * tile + 2 <= registers:
                out.append(DepthwiseKnobs(bn, tile))
    return out


def depthwise_nchwc(
    shape: Conv2dShape, knobs: DepthwiseKnobs, bias: bool = False, relu: bool = False
) -> PrimFunc:
    s = shape
    bn, ow_tile = knobs.bn, knobs.ow_tile
    if ow_tile < 1:
        raise ValueError(f"depthwise_nchwc: knob ow_tile={ow_tile} must be >= 1")
    if not (s.groups == s.c == s.o):
        raise ValueError(f"depthwise_nchwc: needs groups == C == O, got {s}")
    if s.c % bn:
        raise ValueError(f"depthwise_nchwc: knob bn={bn} does not divide {s.c} channels")
    oh_n, ow_n = s.out_hw
    (sh, sw), (dh, dw) = s.stride, s.dilation
    cb = s.c // bn
    data = placeholder((s.n, cb, s.h + 2 * s.pad[0], s.w + 2 * s.pad[1], bn), F32, "data")
    weight = placeholder((cb, s.kh, s.kw, bn), F32, "weight")
    bias_t = placeholder((cb, bn), F32, "bias") if bias else None
    ry, rx = reduce_axis(s.kh, "ry"), reduce_axis(s.kw, "rx")
    acc = compute(
        (s.n, cb, oh_n, ow_n, bn),
        lambda n, c, y, x, l: sum_reduce(
            data[n, c, y * sh + ry * dh, x * sw + rx * dw, l] * weight[c, ry, rx, l], [ry, rx]
        ),
        name="acc",
    )

    def epilogue(n, c, y, x, l):
        v = acc[n, c, y, x, l]
        if bias_t is not None:
            v = v + bias_t[c, l]
        return BinOp("max", v, Const(0.0, F32)) if relu else v

    out = compute(acc.shape, epilogue, name="out") if (bias or relu) else acc
    sch = create_schedule([out])
    if out is acc:
        acc_stage = sch.cache_write(out, "local")
    else:
        sch[acc].set_scope("local")
        acc_stage = acc
    n, c, y, x, l = sch[out].op.axis
    xo, xi = sch[out].split(x, factor=min(ow_tile, ow_n))
    ncy = sch[out].fuse(sch[out].fuse(n, c), y)
    sch[out].reorder(ncy, xo, xi, l)
    sch[out].parallel(ncy)
    sch[out].unroll(xi)
    sch[out].vectorize(l)
    sch[acc_stage].compute_at(sch[out], xo)
    *_, ax, al = sch[acc_stage].op.axis
    ary, arx = sch[acc_stage].op.reduce_axis
    sch[acc_stage].reorder(ary, arx, ax, al)
    for iv in (ary, arx, ax):
        sch[acc_stage].unroll(iv)
    sch[acc_stage].vectorize(al)
    f = lower(sch, "depthwise_nchwc")
    by_name = {b.name: b for b in f.params}
    tensors = [data, weight] + ([bias_t] if bias_t is not None else []) + [out]
    return replace(f, params=tuple(by_name[t.op.name] for t in tensors))


def pack_depthwise_weight(w: np.ndarray, bn: int) -> np.ndarray:
    """[C, 1, KH, KW] -> [C/bn, KH, KW, bn]."""
    c, _, kh, kw = w.shape
    return np.ascontiguousarray(
        w.reshape(c // bn, bn, kh, kw).transpose(0, 2, 3, 1), dtype=np.float32
    )
