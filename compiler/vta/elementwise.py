"""Element-wise operators on the accelerator: `(a << sa) + (b << sb)` then an epilogue, as int8.

    op = elementwise_op(cfg, (1, 64, 56, 56), "int8", b_dtype="int8", shift_b=1,
                        epilogue=[("add_imm", 1), ("shr", 1), ("clip", -128, 127)])

Both operands (int8 or int32, plain NCHW or NC) are loaded into the accumulator SRAM (int8 with
the 8-bit ACC load), shifted and added on the ALU in place, then the epilogue steps of
`compiler.vta.ops._epilogue` run and the int8 result is stored. Schedules reuse the knobs
`tile_b`, `tile_co` (channel blocks), `tile_h`, `tile_w` and the two threadings.
"""

from __future__ import annotations

import itertools

from compiler.schedule.schedule import Schedule, create_schedule
from compiler.schedule.vta_gemm import Knobs
from compiler.te.ops import layout, nn
from compiler.te.ops.multiply import is_zero_stage
from compiler.te.tensor import placeholder
from compiler.vta.intrin import ACC
from compiler.vta.ops import VtaOp, _epilogue, shift_stages
from hw_sim.config import HwConfig


def elementwise_op(
    cfg: HwConfig,
    shape: tuple[int, ...],
    a_dtype: str = "int8",
    b_dtype: str | None = "int8",
    shift_a: int = 0,
    shift_b: int = 0,
    epilogue: list[tuple] | None = None,
    name: str = "eltwise",
) -> VtaOp:
    """`out = epilogue((a << shift_a) + (b << shift_b))` as int8; `b_dtype=None`: no b."""
    if len(shape) not in (2, 4):
        raise ValueError(f"{name}: shape must be (N, C) or (N, C, H, W), got {shape}")
    bt, bo = cfg.batch, cfg.block_out
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    n, c = shape[:2]
    packed = (cdiv(n, bt), cdiv(c, bo), *shape[2:], bt, bo)
    a = placeholder(packed, a_dtype, "a")
    x = nn.cast_to(a, "int32", name="a.acc")
    loads, stages = [x], []
    if shift_a:
        stages += shift_stages(x, -shift_a, f"{name}.shl_a")
        x = stages[-1]
    b = None
    if b_dtype is not None:
        b = placeholder(packed, b_dtype, "b")
        y = nn.cast_to(b, "int32", name="b.acc")
        loads.append(y)
        if shift_b:
            stages += shift_stages(y, -shift_b, f"{name}.shl_b")
            y = stages[-1]
        x = nn.add(x, y, name=f"{name}.add")
        stages.append(x)
    steps = list(epilogue or [])
    if not stages and not steps:
        # a plain copy: the rows LOAD ACC wrote must pass through the ALU before STORE (Chisel
        # and HLS store OUT, which LOAD ACC leaves alone; fsim stores ACC) — VTA's `x >> 0`
        steps = [("shr", 0)]
    more, acc_inputs, acc_loads, bias_gemm, out = _epilogue(
        x, cfg, 1, steps, (packed[1],), "alu", name
    )
    if acc_inputs or acc_loads or bias_gemm:
        raise ValueError(f"{name}: element-wise epilogues take no bias or residual steps")
    op = VtaOp(
        name,
        "elementwise",
        a,
        b,
        None,
        None,
        stages + more,
        [],
        out,
        # what rebuilds the operator (a tuning task's workload; compiler/tune/eltwise_space.py)
        dict(shape=tuple(shape), a=a_dtype, b=b_dtype, shift_a=shift_a, shift_b=shift_b),
        None,
        loads,
    )
    op.steps = steps
    pack = layout.pack_nchw if len(shape) == 4 else layout.pack_nk
    op.pack["a"] = lambda v: {"a": pack(v, bt, bo)}
    if b is not None:
        op.pack["b"] = lambda v: {"b": pack(v, bt, bo)}
    unpack = layout.unpack_nchw if len(shape) == 4 else layout.unpack_nk
    op.unpack = lambda v: unpack(v, n, c)
    return op


def _dims(op: VtaOp) -> tuple[int, int, int, int]:
    s = op.output.shape
    return (s[0], s[1], s[2], s[3]) if len(s) == 6 else (s[0], s[1], 1, 1)


def schedule_elementwise(op: VtaOp, knobs: Knobs) -> Schedule:
    s = create_schedule(op.output)
    out = s[op.output]
    axes = list(op.output.op.axis)
    spatial = len(axes) == 6
    bo_, bi_ = out.split(axes[0], knobs.tile_b)
    co, ci = out.split(axes[1], knobs.tile_co)
    outer, inner = [bo_, co], [bi_, ci]
    if spatial:
        yo, yi = out.split(axes[2], knobs.tile_h)
        xo, xi = out.split(axes[3], knobs.tile_w)
        outer += [yo, xo]
        inner += [yi, xi]
    out.reorder(*outer, *inner, axes[-2], axes[-1])
    vt = None
    if knobs.oc_threading > 1:
        vt, _ = out.split(co, nparts=knobs.oc_threading)
    elif knobs.h_threading > 1 and spatial:
        vt, _ = out.split(yo, nparts=knobs.h_threading)
    if vt is not None:
        out.reorder(bo_, vt, *[iv for iv in out.leaf_iter_vars if iv not in (bo_, vt)])
        out.vthread(vt)
    attach = out.leaf_iter_vars[out.leaf_iter_vars.index(bi_) - 1]
    out.pragma(bi_, "dma_copy")
    for t in op.acc_loads:
        st = s[t]
        st.set_scope(ACC)
        st.compute_at(out, attach)
        st.pragma(t.op.axis[0], "dma_copy")
    for e in op.epilogue:
        st = s[e]
        st.set_scope(ACC)
        st.compute_at(out, attach)
        if is_zero_stage(e):  # a zero tile (HardSwish's copy): a GEMM reset
            st.tensorize(e.op.axis[-2], "gemm")
        else:
            st.pragma(e.op.axis[0], "alu")
    return s


def elementwise_knobs(op: VtaOp, cfg: HwConfig, vthreads: bool = True) -> Knobs:
    """Largest tiles (whole rows first) whose operand tiles fit the accumulator per thread."""
    nb, cb, h, w = _dims(op)
    divs = lambda n: [d for d in range(1, n + 1) if n % d == 0]  # noqa: E731
    best, best_key = None, None
    for tb, tc, th, tw in itertools.product(divs(nb), divs(cb), divs(h), divs(w)):
        rows = tb * tc * th * tw
        thr = (1, 1)
        if vthreads:
            if (h // th) % 2 == 0:
                thr = (2, 1)
            elif (cb // tc) % 2 == 0:
                thr = (1, 2)
        vt = max(thr)
        buffers = len(op.acc_loads) + sum(map(is_zero_stage, op.epilogue))  # + HardSwish's copy
        if vt * rows * buffers > cfg.acc_depth:
            continue
        key = (vt, rows, tw, th)
        if best_key is None or key > best_key:
            best, best_key = Knobs(tb, th, tw, 1, tc, *thr), key
    if best is None:
        raise ValueError(f"{op.name}: not even one row per operand fits the accumulator")
    return best
