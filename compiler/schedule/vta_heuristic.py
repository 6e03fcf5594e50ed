"""Default knobs for `schedule_vta`: the fastest tiling (by an analytic cycle estimate) that fits.

Constraints (all from the config): per virtual thread, the accumulator tile (+ bias and residual
tiles), the input tile (with its halo) and the weight tile must fit their SRAMs; the micro-op
kernels must fit the micro-op SRAM together. The estimate follows docs/timing-model.md: compute
cycles (GEMM micro-ops + pipeline per instruction, reset, ALU epilogue) against DMA cycles
(per-row latency + beats) of loads and stores; with two virtual threads loads and stores overlap
compute, without them a tile's loads and its GEMMs serialize.
"""

from __future__ import annotations

import itertools
import math

from compiler.schedule.vta_gemm import Knobs, op_dims
from compiler.te.ops.multiply import is_zero_stage
from compiler.vta.intrin import uop_fold_split, uop_kernel_budget
from compiler.vta.ops import VtaOp
from hw_sim.config import HwConfig


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _rows_in(tile_h: int, stride: int, kh: int) -> int:
    """Input rows an output-row tile reads (a 1x1 kernel reads only every stride-th row)."""
    return tile_h if kh == 1 else (tile_h - 1) * stride + kh


def _dma(cfg: HwConfig, rows: int, row_bytes: int) -> int:
    beats = -(-row_bytes // cfg.bus_bytes)
    bursts = -(-beats // cfg.MAX_BURST_BEATS)
    return 1 + rows * (bursts * cfg.DRAM_LATENCY + beats)


def _nonunit(exts: list[int], factors: list[int] | None) -> tuple[list[int], list[int] | None]:
    keep = [i for i, e in enumerate(exts) if e > 1]
    return [exts[i] for i in keep], None if factors is None else [factors[i] for i in keep]


def _gemm_nest(d: dict, k: Knobs) -> tuple[list[int], list[int]]:
    """The GEMM's loop extents (reduction, then output rows) and their ACC row factors."""
    exts = [d["kh"], d["kw"], k.tile_ci, k.tile_b, k.tile_co, k.tile_h, k.tile_w]
    w, hw = k.tile_w, k.tile_h * k.tile_w
    return exts, [0, 0, 0, k.tile_co * hw, hw, w, 1]


def _kernel_uops(exts: list[int], budget: int, factors: list[int] | None = None) -> int:
    """Micro-ops `fold_uop_loops` unrolls into the kernel of a nest with these extents."""
    exts, factors = _nonunit(exts, factors)
    return math.prod(exts[uop_fold_split(exts, budget, factors) + 2 :])


def footprint(op: VtaOp, cfg: HwConfig, k: Knobs) -> dict[str, int]:
    """Rows each SRAM needs (all threads) and the micro-ops of all kernels."""
    d = op_dims(op)
    vt = k.vthreads
    s = d["stride"]
    th_in = _rows_in(k.tile_h, s, d["kh"])
    tw_in = (k.tile_w - 1) * d["stride_w"] + d["kw"]
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    n_res = len(op.acc_loads) + sum(map(is_zero_stage, op.epilogue))  # + HardSwish's copy
    n_bias = len(op.acc_inputs)  # per-channel rows: an ALU bias, a per-channel shift
    acc = vt * (out_rows * (1 + n_res) + n_bias * k.tile_co)
    inp = vt * k.tile_b * k.tile_ci * th_in * tw_in
    wgt = vt * k.tile_co * k.tile_ci * d["kh"] * d["kw"]
    if op.bias_gemm:  # the constant row and the bias digits of the tile's channels
        inp += vt
        wgt += vt * k.tile_co
    budget = uop_kernel_budget(cfg)
    gexts, gfactors = _gemm_nest(d, k)
    gk = _kernel_uops(gexts, budget, gfactors)
    rk = _kernel_uops([k.tile_b, k.tile_co, k.tile_h, k.tile_w], budget)
    ak = _kernel_uops([k.tile_b, k.tile_co, k.tile_h, k.tile_w], budget)
    uops = vt * (gk + rk + len(op.epilogue) * ak)
    return dict(acc=acc, inp=inp, wgt=wgt, uop=uops, gemm_kernel=gk)


def pingpong(op: VtaOp, cfg: HwConfig, k: Knobs) -> bool:
    """Whether `build` lets `pingpong_accumulator` alternate two accumulator halves for this
    schedule: one thread, more than one tile, room for a second copy of the output tile, and
    room in the micro-op SRAM for the second half's kernels (else they would evict each other
    on every tile: measured, that costs more than the wait it saves)."""
    if k.vthreads > 1 or _durations(op, cfg, k)["tiles"] < 2:
        return False
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    f = footprint(op, cfg, k)
    return f["acc"] + out_rows <= cfg.acc_depth and 2 * f["uop"] <= cfg.uop_depth


def fits(op: VtaOp, cfg: HwConfig, k: Knobs) -> bool:
    f = footprint(op, cfg, k)
    return (
        f["acc"] <= cfg.acc_depth
        and f["inp"] <= cfg.inp_depth
        and f["wgt"] <= cfg.wgt_depth
        and f["uop"] <= cfg.uop_depth
    )


def estimate_cycles(op: VtaOp, cfg: HwConfig, k: Knobs) -> float:
    """Rough total cycles of the schedule (for ranking tilings, not for reporting)."""
    d = op_dims(op)
    s = d["stride"]
    th_in = _rows_in(k.tile_h, s, d["kh"])
    tw_in = (k.tile_w - 1) * d["stride_w"] + d["kw"]
    tiles = (
        (d["nb"] // k.tile_b)
        * d["g"]
        * (d["cob"] // k.tile_co)
        * (d["oh"] // k.tile_h)
        * (d["ow"] // k.tile_w)
    )
    ci_steps = d["cib"] // k.tile_ci
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    gemm = _gemm_cycles(cfg, d, k)
    n_tensor = len(op.acc_inputs) + len(op.acc_loads)
    alu = (len(op.epilogue) + n_tensor) * out_rows + (len(op.epilogue) + 1) * 8 * cfg.ALU_PIPELINE
    reset = out_rows + cfg.GEMM_PIPELINE
    inp_load = k.tile_b * k.tile_ci * _dma(cfg, th_in, tw_in * cfg.inp_elem_bytes)
    wgt_load = _dma(cfg, k.tile_co, k.tile_ci * d["kh"] * d["kw"] * cfg.wgt_elem_bytes)
    acc_load = n_tensor * _dma(cfg, k.tile_co * k.tile_h, k.tile_w * cfg.acc_elem_bytes)
    store = _dma(cfg, k.tile_b * k.tile_co * k.tile_h, k.tile_w * cfg.out_elem_bytes)
    load = inp_load + wgt_load  # one input-channel step of one thread
    epi = alu + reset + acc_load
    if k.vthreads > 1:
        # Two threads alternate: per step the compute runs both threads' GEMMs while the load
        # module fetches both threads' next tiles; the next output tile's first loads hide under
        # the epilogue. Stores run on their own port.
        pair = ci_steps * max(2 * gemm, 2 * load) + 2 * epi - min(2 * epi, 2 * load)
        pair = max(pair, 2 * store)
        return tiles / 2 * pair + 2 * load + store
    # One thread: a step's loads and GEMMs serialize (one buffer); the next tile's first loads
    # overlap the epilogue.
    per = ci_steps * (gemm + load) + epi - min(epi, load)
    return tiles * max(per, store) + load + store


def _folded(exts: list[int], budget: int, factors: list[int] | None = None) -> int:
    """Iterations of the two hardware loop levels `fold_uop_loops` gives that nest."""
    exts, factors = _nonunit(exts, factors)
    p = uop_fold_split(exts, budget, factors)
    return math.prod(exts[p : p + 2])


def _gemm_cycles(cfg: HwConfig, d: dict, k: Knobs) -> int:
    """GEMM cycles of one input-channel step of one tile: its micro-ops, plus the pipeline
    latency of each GEMM instruction the micro-op folding leaves."""
    budget = uop_kernel_budget(cfg)
    exts, factors = _gemm_nest(d, k)
    per_insn = _kernel_uops(exts, budget, factors) * _folded(exts, budget, factors)
    gemm_uops = k.tile_b * k.tile_co * k.tile_h * k.tile_w * k.tile_ci * d["kh"] * d["kw"]
    return gemm_uops + max(1, gemm_uops // max(1, per_insn)) * cfg.GEMM_PIPELINE


def _durations(op: VtaOp, cfg: HwConfig, k: Knobs) -> dict:
    """Cycles of each per-thread instruction group of one tile (docs/timing-model.md)."""
    d = op_dims(op)
    s = d["stride"]
    th_in = _rows_in(k.tile_h, s, d["kh"])
    tw_in = (k.tile_w - 1) * d["stride_w"] + d["kw"]
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    budget = uop_kernel_budget(cfg)
    exts = [d["kh"], d["kw"], k.tile_ci, k.tile_b, k.tile_co, k.tile_h, k.tile_w]
    n_tensor = len(op.acc_inputs) + len(op.acc_loads)
    alu_insns = len(op.epilogue) * max(1, out_rows // max(1, _folded(exts[3:], budget)))
    whole_ci = k.tile_ci == d["cib"]
    wgt_rows, wgt_row_elems = (1, k.tile_co * d["cib"]) if whole_ci else (k.tile_co, k.tile_ci)
    wgt_row_elems *= d["kh"] * d["kw"]
    return dict(
        inp=k.tile_b * k.tile_ci * _dma(cfg, th_in, tw_in * cfg.inp_elem_bytes),
        wgt=_dma(cfg, wgt_rows, wgt_row_elems * cfg.wgt_elem_bytes),
        gemm=_gemm_cycles(cfg, d, k),
        reset=out_rows + cfg.GEMM_PIPELINE,
        epi=(len(op.epilogue) + n_tensor) * out_rows
        + alu_insns * cfg.ALU_PIPELINE
        + n_tensor * _dma(cfg, k.tile_co * k.tile_h, k.tile_w * cfg.acc_elem_bytes),
        store=_dma(cfg, k.tile_b * k.tile_co * k.tile_h, k.tile_w * cfg.out_elem_bytes),
        steps=d["cib"] // k.tile_ci,
        tiles=(d["nb"] // k.tile_b)
        * d["g"]
        * (d["cob"] // k.tile_co)
        * (d["oh"] // k.tile_h)
        * (d["ow"] // k.tile_w),
    )


def simulate_pipeline(op: VtaOp, cfg: HwConfig, k: Knobs, max_iters: int = 3) -> float:
    """Cycles of the schedule by replaying its token structure at the level of tile steps.

    Per output-tile iteration, every thread t: per input-channel step: load inp+wgt (load
    queue, waits for t's previous GEMM: same buffer), GEMM (waits for its loads; at the first
    step it is preceded by t's reset, which waits for t's previous store: same rows —
    `sink_gemm_reset`; the first tile resets up front; with `pingpong`, the store of the
    tile before the previous one); after its last step's GEMM, t's
    epilogue (`sink_epilogue`) and store (store queue). The first `max_iters` iterations are
    replayed and the rest extrapolated from the last one.
    """
    du = _durations(op, cfg, k)
    vt = k.vthreads
    n_iter = max(1, du["tiles"] // vt)
    lat = cfg.TOKEN_LATENCY
    free = {"load": 0, "compute": 0, "store": 0}
    last_gemm = [0] * vt
    last_store = [0] * vt
    halves = [0, 0] if pingpong(op, cfg, k) else None  # store end per accumulator half
    ends = []
    for it in range(min(n_iter, max_iters)):
        if it == 0:
            free["compute"] += vt * du["reset"]
        for step in range(du["steps"]):
            loaded = [0] * vt
            for t in range(vt):
                st = max(free["load"], last_gemm[t] + lat)
                free["load"] = loaded[t] = st + du["inp"] + du["wgt"]
            for t in range(vt):
                st = free["compute"]
                if step == 0 and it > 0:
                    done = last_store[t] if halves is None else halves[it % 2]
                    st = max(st, done + lat) + du["reset"]
                st = max(st, loaded[t] + lat)
                free["compute"] = last_gemm[t] = st + du["gemm"]
                if step == du["steps"] - 1:  # `sink_epilogue`: t's epilogue, then its store
                    free["compute"] += du["epi"]
                    st = max(free["store"], free["compute"] + lat)
                    free["store"] = last_store[t] = st + du["store"]
                    if halves is not None:
                        halves[it % 2] = last_store[t]
        ends.append(max(free.values()))
    if n_iter > len(ends):
        per = ends[-1] - ends[-2] if len(ends) > 1 else ends[-1]
        return ends[-1] + (n_iter - len(ends)) * per
    return ends[-1]


def candidates(op: VtaOp, cfg: HwConfig, vthreads: bool = True) -> list[Knobs]:
    """Every knob setting whose tiles divide the shape and fit the SRAMs."""
    d = op_dims(op)
    spatial = op.kind != "dense"
    hs = _divisors(d["oh"]) if spatial else [1]
    ws = _divisors(d["ow"]) if spatial else [1]
    out = []
    for tb, tco, th, tw, tci in itertools.product(
        _divisors(d["nb"]), _divisors(d["cob"]), hs, ws, _divisors(d["cib"])
    ):
        threadings = [(1, 1)]
        if vthreads:
            threadings = []
            if (d["oh"] // th) % 2 == 0 and spatial:
                threadings.append((2, 1))
            if (d["cob"] // tco) % 2 == 0:
                threadings.append((1, 2))
            if not threadings:
                threadings = [(1, 1)]
        for ht, ot in threadings:
            k = Knobs(tb, th, tw, tci, tco, ht, ot)
            if fits(op, cfg, k):
                out.append(k)
    return out


def default_knobs(op: VtaOp, cfg: HwConfig, vthreads: bool = True, shortlist: int = 48) -> Knobs:
    """The best-estimated tiling that fits the SRAMs (with 2 virtual threads when possible).

    All fitting tilings are ranked by the closed-form `estimate_cycles`; the best `shortlist`
    are re-ranked by `simulate_pipeline` (no measurement: both are models of the timing doc).
    """
    cands = candidates(op, cfg, vthreads)
    if not cands:
        raise ValueError(
            f"{op.name}: no tiling fits the SRAMs of config {cfg.name!r} (even 1x1 tiles)"
        )

    def size(k):
        return -(k.tile_b * k.tile_co * k.tile_h * k.tile_w), -k.tile_ci

    ranked = sorted(cands, key=lambda k: (estimate_cycles(op, cfg, k), size(k)))
    short = ranked[:shortlist]
    return min(short, key=lambda k: (simulate_pipeline(op, cfg, k), size(k)))
