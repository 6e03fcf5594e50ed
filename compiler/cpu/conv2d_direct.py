"""Direct conv2d in plain NCHW: the general fallback (any groups, dilation, asymmetric padding,
and int8 x int8 -> int32 for quantized graphs), as a loop-IR generator.

    x       [N, C, H, W]            float32 or int8
    weight  [O, C/groups, KH, KW]   same dtype as x
    bias    [O]                     float32 or int32 (optional)
    out     [N, O, OH, OW]          float32 or int32

A tensor expression with a CPU schedule, lowered by the shared `compiler.tir.lower`: stage 1
(parallel) computes the zero-padded input into a temporary so the reduction needs no bounds
checks; stage 2 (parallel over (n, o, output row)) accumulates one output row in a local
buffer over (input channel, ky, kx) with the row as the vectorized axis. `pad_stage` is the
same padding written directly, for the pooling kernels.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.cpu.nest import RowKnobs, nest
from compiler.schedule import create_schedule
from compiler.te import cast, compute, placeholder, reduce_axis, sum_reduce
from compiler.tir.lower import lower
from compiler.tir.nodes import (
    BinOp,
    Buffer,
    Const,
    IfThenElse,
    PrimFunc,
    Select,
    Store,
    Var,
    seq,
)


def conv2d_direct(
    n: int,
    c: int,
    h: int,
    w: int,
    o: int,
    kh: int,
    kw: int,
    stride: tuple[int, int] = (1, 1),
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),  # top, left, bottom, right
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    dtype: str = "float32",
    bias: bool = False,
    relu: bool = False,
    knobs: RowKnobs | None = None,
) -> PrimFunc:
    """The PrimFunc of the module docstring; `knobs` default to `RowKnobs()` (rows parallel,
    a row vectorized, kx taps not unrolled)."""
    knobs = knobs or RowKnobs()
    if c % groups or o % groups:
        raise ValueError(f"conv2d: groups={groups} must divide C={c} and O={o}")
    if dtype not in ("float32", "int8"):
        raise ValueError(f"conv2d: dtype {dtype} not supported on the CPU (float32, int8)")
    acc_t = "float32" if dtype == "float32" else "int32"
    (sh, sw), (dh, dw) = stride, dilation
    pt, pl, pb, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    oh_n = (hp - dh * (kh - 1) - 1) // sh + 1
    ow_n = (wp - dw * (kw - 1) - 1) // sw + 1
    cg, og = c // groups, o // groups
    x = placeholder((n, c, h, w), dtype, "x")
    wt = placeholder((o, cg, kh, kw), dtype, "weight")
    b = placeholder((o,), acc_t, "bias") if bias else None
    zero_in = Const(0.0 if dtype == "float32" else 0, dtype)
    zero_acc = Const(0.0 if acc_t == "float32" else 0, acc_t)

    def padded(bi, ci, y, xx):
        inside = BinOp(
            "and",
            BinOp("and", y >= Const(pt), y < Const(pt + h)),
            BinOp("and", xx >= Const(pl), xx < Const(pl + w)),
        )
        # Clamped, so the load stays inside x where the select discards it.
        yy = BinOp("min", BinOp("max", y - Const(pt), Const(0)), Const(h - 1))
        xc = BinOp("min", BinOp("max", xx - Const(pl), Const(0)), Const(w - 1))
        return Select(inside, x[bi, ci, yy, xc], zero_in)

    xp = compute((n, c, hp, wp), padded, name="x_padded")
    rc, ry, rx = reduce_axis(cg, "rc"), reduce_axis(kh, "ry"), reduce_axis(kw, "rx")
    acc = compute(
        (n, o, oh_n, ow_n),
        lambda bi, oi, y, xx: sum_reduce(
            cast(acc_t, xp[bi, oi // og * cg + rc, y * sh + ry * dh, xx * sw + rx * dw])
            * cast(acc_t, wt[oi, rc, ry, rx]),
            [rc, ry, rx],
        ),
        name="acc",
    )

    def epilogue(bi, oi, y, xx):
        v = acc[bi, oi, y, xx]
        if b is not None:
            v = v + b[oi]
        return BinOp("max", v, zero_acc) if relu else v

    out = compute(acc.shape, epilogue, name="out") if (bias or relu) else acc
    sch = create_schedule([out])
    acc_stage = sch.cache_write(out, "local") if out is acc else acc
    if out is not acc:
        sch[acc].set_scope("local")
    # padding: a root stage (a runtime temporary), rows in parallel, a row vectorized
    pn, pc, py, px = sch[xp].op.axis
    prows = sch[xp].fuse(sch[xp].fuse(pn, pc), py)
    # convolution: (n, o, row) parallel; a row accumulated locally, vectorized
    on, oo, oy, ox = sch[out].op.axis
    rows = sch[out].fuse(sch[out].fuse(on, oo), oy)
    sch[acc_stage].compute_at(sch[out], rows)
    *_, ax = sch[acc_stage].op.axis
    arc, ary, arx = sch[acc_stage].op.reduce_axis
    sch[acc_stage].reorder(arc, ary, arx, ax)
    if knobs.parallel:
        sch[xp].parallel(prows)
        sch[out].parallel(rows)
    if knobs.vectorize:
        sch[xp].vectorize(px)
        sch[out].vectorize(ox)
        sch[acc_stage].vectorize(ax)
    if knobs.unroll_taps:
        sch[acc_stage].unroll(arx)
    f = lower(sch, "conv2d_direct")
    by_name = {buf.name: buf for buf in f.params}
    tensors = [x, wt] + ([b] if b is not None else []) + [out]
    return replace(f, params=tuple(by_name[t.op.name] for t in tensors))


def pad_stage(
    x: Buffer, xp: Buffer, begin: tuple[int, int], value: Const, knobs: RowKnobs | None = None
):
    """A loop over rows (parallel, rows vectorized, unless `knobs` say otherwise) copying
    x [N, C, H, W] into xp [N, C, Hp, Wp] at offset `begin` (top, left), filling the rest with
    `value`."""
    knobs = knobs or RowKnobs()
    n, c, h, w = x.shape
    _, _, hp, wp = xp.shape
    pt, pl = begin
    q, j, xi = Var("q"), Var("j"), Var("xi")
    qn, qc, qy = q // (c * hp), q // hp % c, q % hp
    inside = BinOp("and", qy >= Const(pt), qy < Const(pt + h))
    return nest(
        [(q, n * c * hp, knobs.outer_kind())],
        seq(
            nest([(j, wp, knobs.row_kind())], Store(xp, (qn, qc, qy, j), value)),
            IfThenElse(
                inside,
                nest(
                    [(xi, w, knobs.row_kind())],
                    Store(xp, (qn, qc, qy, xi + pl), x[qn, qc, qy - pt, xi]),
                ),
            ),
        ),
    )
