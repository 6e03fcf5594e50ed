"""Cost-model features of a schedule: its instruction stream, summarized, plus the hardware.

The features describe the program a knob point lowers to — not the knobs — so that one model
serves every workload and config (TVM's "knob-free" features): per output tile and per
input-channel step, the instruction counts by class (LOAD INP/WGT/ACC, GEMM, ALU, STORE), micro-ops
per GEMM instruction, DMA rows and beats, the closed-form cycles of each group
(docs/timing-model.md), SRAM occupancy, and the predicted share of useful GEMM cycles; then the
hardware config (bus width, DRAM latency, pipelines, SRAM depths).

They are computed in closed form from the schedule's structure (the same loop nest
`schedule_vta` builds and `fold_uop_loops` folds), not by lowering each point: the simulated
annealing scores thousands of candidates per batch and a Python lowering costs ~0.1 s each.
`tests/tune/test_features.py` checks the predicted GEMM instruction count against compiled
programs.
"""

from __future__ import annotations

import math

import numpy as np

from compiler.schedule.vta_gemm import TILE_ORDERS, Knobs
from compiler.schedule.vta_heuristic import _dma, _rows_in, footprint
from compiler.tune.space import VtaSpace, gemm_fold
from compiler.vta.intrin import uop_kernel_budget
from hw_sim.config import HwConfig

STREAM_FEATURES = (
    "log_tiles",
    "log_steps",
    "log_out_rows",
    "log_gemm_uops_step",
    "log_gemm_insns_step",
    "log_uops_per_gemm_insn",
    "log_kernel_uops",
    "log_inp_dma",
    "log_wgt_dma",
    "log_gemm_step",
    "log_epilogue",
    "log_store",
    "log_insns",
    "load_over_gemm",
    "epi_over_gemm",
    "store_over_compute",
    "pred_useful_share",
    "pred_useful_share_serial",
    "vthreads",
    "vt_h",
    "vt_oc",
    "vt_w",
    "order_0",
    "order_1",
    "order_2",
    "bias_alu",
    "uop_split",
    "occ_acc",
    "occ_inp",
    "occ_wgt",
    "occ_uop",
    "inp_halo",
    "stride",
    "kernel_area",
)
HW_FEATURES = (
    "log_bus_bytes",
    "dram_latency",
    "log_burst",
    "gemm_pipeline",
    "alu_pipeline",
    "log_inp_depth",
    "log_wgt_depth",
    "log_acc_depth",
    "log_uop_depth",
    "log_block",
)
FEATURE_NAMES = STREAM_FEATURES + HW_FEATURES


def hw_features(cfg: HwConfig) -> list[float]:
    return [
        math.log2(cfg.bus_bytes),
        cfg.DRAM_LATENCY,
        math.log2(cfg.MAX_BURST_BEATS),
        cfg.GEMM_PIPELINE,
        cfg.ALU_PIPELINE,
        math.log2(cfg.inp_depth),
        math.log2(cfg.wgt_depth),
        math.log2(cfg.acc_depth),
        math.log2(cfg.uop_depth),
        math.log2(cfg.block_out),
    ]


def _log(x: float) -> float:
    return math.log2(1.0 + x)


def stream_features(space: VtaSpace, k: Knobs) -> list[float]:
    """The knob-free summary of the program of `k` (see STREAM_FEATURES)."""
    d, cfg = space.dims, space.cfg
    op = space.op_for(k)
    vt = k.vthreads
    s = d["stride"]
    th_in = _rows_in(k.tile_h, s, d["kh"])
    tw_in = (k.tile_w - 1) * d["stride_w"] + d["kw"]
    out_rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    tiles = (
        (d["nb"] // k.tile_b)
        * d["g"]
        * (d["cob"] // k.tile_co)
        * (d["oh"] // k.tile_h)
        * (d["ow"] // k.tile_w)
    )
    steps = d["cib"] // k.tile_ci
    budget = uop_kernel_budget(cfg)
    exts, p = gemm_fold(d, k, budget)
    kernel = math.prod(exts[p + 2 :])
    per_insn = kernel * math.prod(exts[p : p + 2])
    gemm_uops = out_rows * k.tile_ci * d["kh"] * d["kw"]
    gemm_insns = max(1, gemm_uops // max(1, per_insn))
    gemm = gemm_uops + gemm_insns * cfg.GEMM_PIPELINE
    inp = k.tile_b * k.tile_ci * _dma(cfg, th_in, tw_in * cfg.inp_elem_bytes)
    whole_ci = k.tile_ci == d["cib"]
    wrows, welems = (1, k.tile_co * d["cib"]) if whole_ci else (k.tile_co, k.tile_ci)
    wgt = _dma(cfg, wrows, welems * d["kh"] * d["kw"] * cfg.wgt_elem_bytes)
    alu_bias = k.bias_on == "alu"
    n_imm = len(op.epilogue) - (1 if op.bias_gemm or alu_bias else 0)
    epi = out_rows + cfg.GEMM_PIPELINE  # the accumulator reset
    epi += n_imm * (out_rows + cfg.ALU_PIPELINE)
    if alu_bias:
        epi += 2 * out_rows + cfg.ALU_PIPELINE + _dma(cfg, k.tile_co, cfg.acc_elem_bytes)
        wgt_bias = 0
    else:
        epi += out_rows + cfg.GEMM_PIPELINE
        wgt_bias = _dma(cfg, k.tile_co * cfg.block_out, cfg.wgt_elem_bytes * cfg.block_in)
    store = _dma(cfg, k.tile_b * k.tile_co * k.tile_h, k.tile_w * cfg.out_elem_bytes)
    compute = steps * gemm + epi
    load = steps * (inp + wgt) + wgt_bias
    useful = tiles * steps * gemm_uops
    overlapped = tiles * max(compute, load, store) + load + store
    serial = tiles * (compute + load) + store
    total = overlapped if vt > 1 else serial
    insns = steps * (gemm_insns + 3) + 2 + n_imm + 2
    f = footprint(op, cfg, k)
    order = TILE_ORDERS.index(k.tile_order)
    return [
        _log(tiles),
        _log(steps),
        _log(out_rows),
        _log(gemm_uops),
        _log(gemm_insns),
        _log(per_insn),
        _log(kernel),
        _log(inp),
        _log(wgt),
        _log(gemm),
        _log(epi),
        _log(store),
        _log(insns * tiles),
        load / gemm,
        epi / max(1, steps * gemm),
        store / compute,
        useful / total,
        useful / serial,
        vt,
        float(k.h_threading > 1),
        float(k.oc_threading > 1),
        float(k.w_threading > 1),
        float(order == 0),
        float(order == 1),
        float(order == 2),
        float(alu_bias),
        k.uop_split,
        f["acc"] / cfg.acc_depth,
        f["inp"] / cfg.inp_depth,
        f["wgt"] / cfg.wgt_depth,
        f["uop"] / cfg.uop_depth,
        th_in * tw_in / max(1, s * s * k.tile_h * k.tile_w),
        s,
        d["kh"] * d["kw"],
    ]


class FeatureCache:
    """Features of the points of one space (of either family, `kinds.py`), computed once each."""

    def __init__(self, space) -> None:
        from compiler.tune.kinds import feature_names

        self.space = space
        self.names = feature_names(space.family)
        self.hw = hw_features(space.cfg)
        self._rows: dict[tuple, list[float]] = {}

    def row(self, point: tuple[int, ...]) -> list[float]:
        from compiler.tune.kinds import stream_row

        r = self._rows.get(point)
        if r is None:
            r = self._rows[point] = stream_row(self.space, self.space.knobs(point)) + self.hw
        return r

    def matrix(self, points: list[tuple[int, ...]]) -> np.ndarray:
        return np.asarray([self.row(p) for p in points], dtype=np.float32).reshape(
            len(points), len(self.names)
        )
