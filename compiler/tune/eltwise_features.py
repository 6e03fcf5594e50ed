"""Cost-model features of an element-wise schedule (family "eltwise"), in closed form.

Per output tile of `tile_b · tile_co · tile_h · tile_w` accumulator rows: the operand loads
(LOAD ACC on the compute queue: int8 operands as 16-byte ACC_8BIT elements, int32 as ACC
elements; one 2-D DMA of `tile_h` rows of `tile_w` elements per batch and channel block, costed
by the DMA formula the GEMM features use), the ALU stages (two cycles a row with a tensor
operand, one with an immediate, plus the pipeline), the store; then the predicted share of
"useful" cycles (output rows ÷ predicted cycles: compute and store serial with one thread,
overlapped with two). Computed, not lowered: a TE lowering costs ~0.1 s a point.
"""

from __future__ import annotations

import math

from compiler.schedule.vta_gemm import Knobs
from compiler.schedule.vta_heuristic import _dma
from compiler.tune.eltwise_space import EltwiseSpace, blocked_dims
from compiler.tune.features import HW_FEATURES

ELTWISE_STREAM_FEATURES = (
    "log_tiles",
    "log_rows_per_tile",
    "log_load",
    "log_alu",
    "log_store",
    "load_over_alu",
    "store_over_compute",
    "pred_useful_share",
    "pred_useful_share_serial",
    "vthreads",
    "vt_h",
    "vt_oc",
    "occ_acc",
    "operands",
    "stages",
    "whole_rows",
)
ELTWISE_FEATURE_NAMES = ELTWISE_STREAM_FEATURES + HW_FEATURES


def output_rows(op) -> int:
    return math.prod(blocked_dims(op))


def _log(x: float) -> float:
    return math.log2(1.0 + x)


def eltwise_features(space: EltwiseSpace, k: Knobs) -> list[float]:
    cfg, op = space.cfg, space.op
    nb, cb, h, w = space.dims
    rows = k.tile_b * k.tile_co * k.tile_h * k.tile_w
    tiles = (nb // k.tile_b) * (cb // k.tile_co) * (h // k.tile_h) * (w // k.tile_w)
    planes = k.tile_b * k.tile_co
    load = 0
    # operand dtypes: an int8 Add's workload names them; a HardSwish / Mul (mul_ops) loads each
    # of its int8 operands into the accumulator (HardSwish its input twice)
    dtypes = ((op.workload["a"], op.workload["b"]) if "a" in op.workload
              else tuple(t.op.inputs[0].dtype for t in op.acc_loads))  # fmt: skip
    for dtype in dtypes:
        if dtype is not None:
            elem = cfg.batch * cfg.block_out if dtype == "int8" else cfg.acc_elem_bytes
            load += planes * _dma(cfg, k.tile_h, k.tile_w * elem)
    alu = sum(rows * (2 if len(e.op.inputs) > 1 else 1) + cfg.ALU_PIPELINE for e in op.epilogue)
    store = planes * _dma(cfg, k.tile_h, k.tile_w * cfg.out_elem_bytes)
    compute = load + alu
    serial = tiles * (compute + store)
    overlapped = tiles * max(compute, store) + compute + store
    useful = output_rows(op)
    return [
        _log(tiles),
        _log(rows),
        _log(load),
        _log(alu),
        _log(store),
        load / max(1, alu),
        store / max(1, compute),
        useful / (overlapped if k.vthreads > 1 else serial),
        useful / serial,
        k.vthreads,
        float(k.h_threading > 1),
        float(k.oc_threading > 1),
        k.vthreads * rows * len(op.acc_loads) / cfg.acc_depth,
        len(op.acc_loads),
        len(op.epilogue),
        float(k.tile_w == w),
    ]
