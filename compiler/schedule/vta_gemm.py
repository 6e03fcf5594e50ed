"""The accelerator schedule for GEMM-based operators (conv2d, grouped conv2d, dense).

A schedule is a function of named knobs (`Knobs`), the same knobs the tuner searches:
    tile_b, tile_h, tile_w, tile_ci, tile_co   tile sizes in blocks / pixels
    h_threading, oc_threading, w_threading     2 virtual threads over output-row,
                                               output-channel or output-column tiles
                                               (ping-pong buffers; at most one of them)
    tile_order                                 nesting of the output-tile loops, outer to
                                               inner: "co_h_w" (default), "h_w_co", "h_co_w"
    bias_on                                    "" (as the operator was built), "gemm" or "alu":
                                               the tuner builds the operator variant it names
    uop_split                                  shift of the micro-op loop folding cut of the
                                               GEMM nests (`fold_uop_loops`): -1 unrolls one
                                               more loop into the kernel (fewer, longer GEMM
                                               instructions), +1 one fewer
Structure (VTA's): the output is tiled; per output tile the accumulator tile is reset, then for
each input-channel tile the input (padded by DMA) and weight tiles are loaded and the GEMM
intrinsic runs over the tile; the epilogue runs on the ALU in the accumulator; the tile is stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from compiler.schedule.schedule import Schedule, ScheduleError, create_schedule
from compiler.te.ops.multiply import is_zero_stage
from compiler.vta.intrin import ACC, INP, WGT
from compiler.vta.ops import VtaOp


@dataclass(frozen=True)
class Knobs:
    tile_b: int = 1
    tile_h: int = 1
    tile_w: int = 1
    tile_ci: int = 1
    tile_co: int = 1
    h_threading: int = 1
    oc_threading: int = 1
    w_threading: int = 1
    tile_order: str = "co_h_w"
    bias_on: str = ""
    uop_split: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Knobs:
        """Inverse of `to_dict`; keys missing from older records take their defaults."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @property
    def vthreads(self) -> int:
        return max(self.h_threading, self.oc_threading, self.w_threading)


TILE_ORDERS = ("co_h_w", "h_w_co", "h_co_w")


def op_dims(op: VtaOp) -> dict:
    """Blocked extents: nb, g, cob (per group), cib (per group), oh, ow, kh, kw; stride (of
    the rows) and stride_w (of the columns)."""
    g = op.gemm.op
    shape = op.gemm.shape
    red = {a.name: a.extent for a in g.reduce_axis}
    if op.kind == "dense":
        one = dict(oh=1, ow=1, kh=1, kw=1, stride=1, stride_w=1)
        return dict(nb=shape[0], g=1, cob=shape[1], cib=red["k"], **one)
    if op.kind == "group_conv2d":
        nb, gg, cob, oh, ow = shape[:5]
    else:
        (nb, cob, oh, ow), gg = shape[:4], 1
    return dict(
        nb=nb,
        g=gg,
        cob=cob,
        cib=red["ic"],
        oh=oh,
        ow=ow,
        kh=red["ky"],
        kw=red["kx"],
        stride=op.workload["stride"],
        stride_w=op.workload.get("stride_w", op.workload["stride"]),
    )


def _check(op: VtaOp, k: Knobs) -> None:
    d = op_dims(op)
    for knob, ext in (
        ("tile_b", d["nb"]),
        ("tile_h", d["oh"]),
        ("tile_w", d["ow"]),
        ("tile_ci", d["cib"]),
        ("tile_co", d["cob"]),
    ):
        v = getattr(k, knob)
        if v < 1 or ext % v:
            raise ScheduleError(f"{op.name}: knob {knob}={v} must divide {ext}")
    if sum(v > 1 for v in (k.h_threading, k.oc_threading, k.w_threading)) > 1:
        raise ScheduleError(
            f"{op.name}: use one of h_threading, oc_threading, w_threading, not several"
        )
    if k.tile_order not in TILE_ORDERS:
        raise ScheduleError(f"{op.name}: tile_order={k.tile_order!r} is not one of {TILE_ORDERS}")
    if k.uop_split not in (-1, 0, 1):
        raise ScheduleError(f"{op.name}: uop_split={k.uop_split} must be -1, 0 or 1")
    built = "gemm" if op.bias_gemm else ("alu" if op.alu_bias else "")
    if k.bias_on and built and k.bias_on != built:
        raise ScheduleError(
            f"{op.name}: knob bias_on={k.bias_on!r} but the operator adds its bias on the "
            f"{built.upper()} unit (build the operator with bias_on={k.bias_on!r})"
        )
    for knob, tiles in (
        ("h_threading", d["oh"] // k.tile_h),
        ("oc_threading", d["cob"] // k.tile_co),
        ("w_threading", d["ow"] // k.tile_w),
    ):
        v = getattr(k, knob)
        if v not in (1, 2) or tiles % v:
            raise ScheduleError(
                f"{op.name}: {knob}={v} needs 1 or 2 dividing the {tiles} tiles along that axis"
            )


def schedule_vta(op: VtaOp, knobs: Knobs) -> Schedule:
    """Schedule `op` for the accelerator with the given knobs (tiles must divide the shape)."""
    _check(op, knobs)
    s = create_schedule(op.output)
    grouped = op.kind == "group_conv2d"
    spatial = op.kind != "dense"
    if op.pad is not None:
        s[op.pad].compute_inline()
    src = op.pad if op.pad is not None else op.data
    d_inp = s.cache_read(src, INP, [op.gemm])
    k_wgt = s.cache_read(op.kernel, WGT, [op.gemm])
    s[op.gemm].set_scope(ACC)
    caches = [s.cache_read(t, ACC, [reader]) for t, reader in op.acc_inputs]

    # ----- output tiling ----------------------------------------------------------------
    out = s[op.output]
    axes = list(op.output.op.axis)
    b, co = axes[0], axes[2 if grouped else 1]
    g = axes[1] if grouped else None
    bo, bi = out.split(b, knobs.tile_b)
    coo, coi = out.split(co, knobs.tile_co)
    outer, inner = [bo], [bi]
    if g is not None:
        outer.append(g)
    outer.append(coo)
    inner.append(coi)
    if spatial:
        y, x = axes[-4], axes[-3]
        yo, yi = out.split(y, knobs.tile_h)
        xo, xi = out.split(x, knobs.tile_w)
        tiles = {"co": coo, "h": yo, "w": xo}
        outer = outer[:-1] + [tiles[n] for n in knobs.tile_order.split("_")]
        inner += [yi, xi]
    out.reorder(*outer, *inner, axes[-2], axes[-1])
    if knobs.oc_threading > 1:
        vt, rest = out.split(coo, nparts=knobs.oc_threading)
    elif knobs.h_threading > 1 and spatial:
        vt, rest = out.split(yo, nparts=knobs.h_threading)
    elif knobs.w_threading > 1 and spatial:
        vt, rest = out.split(xo, nparts=knobs.w_threading)
    else:
        vt = None
    if vt is not None:
        order = [bo, vt] + [iv for iv in out.leaf_iter_vars if iv not in (bo, vt)]
        out.reorder(*order)
        out.vthread(vt)
    attach = out.leaf_iter_vars[out.leaf_iter_vars.index(bi) - 1]
    out.pragma(bi, "dma_copy")

    # ----- GEMM stage -------------------------------------------------------------------
    gs = s[op.gemm]
    gs.compute_at(out, attach)
    red = list(op.gemm.op.reduce_axis)
    ic, ici = red[0], red[-1]
    ico, ic_i = gs.split(ic, knobs.tile_ci)
    data_axes = list(op.gemm.op.axis)
    windows = red[1:-1]  # ky, kx (conv) or none (dense)
    gs.reorder(ico, *windows, ic_i, *data_axes[:-2], data_axes[-2], data_axes[-1], ici)
    gs.tensorize(data_axes[-2], "gemm")
    for c in (d_inp, k_wgt):
        s[c].compute_at(gs, ico)
        s[c].pragma(c.op.axis[0], "dma_copy")
    if spatial:
        # A strided 1x1 convolution reads every s-th input row: load only those (DMA row
        # stride). Columns stay contiguous (DMA rows must be).
        s[d_inp].allow_strided(d_inp.op.axis[2])

    # ----- epilogue: ALU stages, and the bias as one GEMM micro-op per row ----------------
    for c in caches + [s[t].op.output for t in op.acc_loads]:
        s[c].set_scope(ACC)
        s[c].compute_at(out, attach)
        s[c].pragma(c.op.axis[0], "dma_copy")
    bias_stage = op.bias_gemm[2] if op.bias_gemm else None
    if op.bias_gemm:
        row, digits, _ = op.bias_gemm
        for t, scope in ((row, INP), (digits, WGT)):
            c = s.cache_read(t, scope, [bias_stage])
            s[c].compute_at(out, attach)
            s[c].pragma(c.op.axis[0], "dma_copy")
    for e in op.epilogue:
        st = s[e]
        st.set_scope(ACC)
        st.compute_at(out, attach)
        if e is bias_stage:
            ax = list(e.op.axis)
            st.reorder(*ax, e.op.reduce_axis[0])
            st.tensorize(ax[-2], "gemm")
        elif is_zero_stage(e):  # a zero tile (HardSwish's copy): a GEMM reset
            st.tensorize(e.op.axis[-2], "gemm")
        else:
            st.pragma(e.op.axis[0], "alu")
    return s
