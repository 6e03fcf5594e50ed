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

from compiler.schedule.vta_gemm import Knobs, op_dims
from compiler.vta.intrin import uop_kernel_budget
from compiler.vta.ops import VtaOp
from hw_sim.config import HwConfig


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _dma(cfg: HwConfig, rows: int, row_bytes: int) -> int:
    beats = -(-row_bytes // cfg.bus_bytes)
    bursts = -(-beats // cfg.MAX_BURST_BEATS)
    return 1 + rows * (bursts * cfg.DRAM_LATENCY + beats)


def _kernel_uops(exts: list[int], budget: int) -> int:
    exts = [e for e in exts if e > 1]
    for p in range(len(exts) + 1):
        n = 1
        for e in exts[p + 2 :]:
            n *= e
        if n <= budget:
            return n
    return 1


def footprint(op: VtaOp, cfg: HwConfig, k: Knobs) -> dict[str, int]:
    """Rows each SRAM needs (all threads) and the micro-ops of all kernels."""
    d = op_dims(op)
    vt = k.vthreads
    s = d["stride"]
    th_in = (k.tile_h - 1) * s + d["kh"]
    tw_in = (k.tile_w - 1) * s + d["kw"]
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    n_res = sum(1 for t, _ in op.acc_inputs if t.name == "residual")
    n_bias = sum(1 for t, _ in op.acc_inputs if t.name == "bias")
    acc = vt * (out_rows * (1 + n_res) + n_bias * k.tile_co)
    inp = vt * k.tile_b * k.tile_ci * th_in * tw_in
    wgt = vt * k.tile_co * k.tile_ci * d["kh"] * d["kw"]
    budget = uop_kernel_budget(cfg)
    gk = _kernel_uops(
        [d["kh"], d["kw"], k.tile_ci, k.tile_b, k.tile_co, k.tile_h, k.tile_w], budget
    )
    rk = _kernel_uops([k.tile_b, k.tile_co, k.tile_h, k.tile_w], budget)
    ak = _kernel_uops([k.tile_b, k.tile_co, k.tile_h, k.tile_w], budget)
    uops = vt * (gk + rk + len(op.epilogue) * ak)
    return dict(acc=acc, inp=inp, wgt=wgt, uop=uops, gemm_kernel=gk)


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
    th_in = (k.tile_h - 1) * s + d["kh"]
    tw_in = (k.tile_w - 1) * s + d["kw"]
    tiles = (
        (d["nb"] // k.tile_b)
        * d["g"]
        * (d["cob"] // k.tile_co)
        * (d["oh"] // k.tile_h)
        * (d["ow"] // k.tile_w)
    )
    ci_steps = d["cib"] // k.tile_ci
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    budget = uop_kernel_budget(cfg)
    exts = [d["kh"], d["kw"], k.tile_ci, k.tile_b, k.tile_co, k.tile_h, k.tile_w]
    gk = _kernel_uops(exts, budget)
    gemm_uops = out_rows * k.tile_ci * d["kh"] * d["kw"]
    gemm_insns = max(1, gemm_uops // max(1, gk * _folded(exts, budget)))
    gemm = gemm_uops + gemm_insns * cfg.GEMM_PIPELINE
    n_tensor = len(op.acc_inputs)
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


def _folded(exts: list[int], budget: int) -> int:
    exts = [e for e in exts if e > 1]
    for p in range(len(exts) + 1):
        n = 1
        for e in exts[p + 2 :]:
            n *= e
        if n <= budget:
            f = 1
            for e in exts[p : p + 2]:
                f *= e
            return f
    return 1


def default_knobs(op: VtaOp, cfg: HwConfig, vthreads: bool = True) -> Knobs:
    """The best-estimated tiling that fits the SRAMs (with 2 virtual threads when possible)."""
    d = op_dims(op)
    best, best_cost = None, None
    spatial = op.kind != "dense"
    hs = _divisors(d["oh"]) if spatial else [1]
    ws = _divisors(d["ow"]) if spatial else [1]
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
            if not fits(op, cfg, k):
                continue
            cost = estimate_cycles(op, cfg, k)
            key = (cost, -(tb * tco * th * tw), -tci)
            if best_cost is None or key < best_cost:
                best, best_cost = k, key
    if best is None:
        raise ValueError(
            f"{op.name}: no tiling fits the SRAMs of config {cfg.name!r} (even 1x1 tiles)"
        )
    return best
