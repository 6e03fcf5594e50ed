"""Cost-model features of a tiled ALU schedule (max pool, ×2 upsample): its instruction stream.

These operators' generators are hand-scheduled and fast (a few ms per program, their spaces a
few hundred points), so unlike the GEMM features (`features.py`, closed form) the stream itself
is generated and summarized: instruction and micro-op counts by class, the closed-form busy
cycles of the compute and store modules (`hw_sim.timing.insn_timing`, the simulator's own
formulas), the accumulator occupancy, the operator kind as a one-hot, and the predicted share
of "useful" cycles (output vectors ÷ predicted cycles: compute and store serial with one thread,
overlapped after the first tile with two) that the XGBoost tuner's analytic prior ranks by.
The hardware features are the GEMM family's (`features.HW_FEATURES`).

The model is per family: a tile task trains on tile-task rows only (`TILE_FEATURE_NAMES`), and
transfer learning (`transfer.py`) draws on records of the same family.
"""

from __future__ import annotations

import math

from compiler.tune.features import HW_FEATURES
from compiler.tune.tile_space import TILE_KINDS, TileSpace
from compiler.vta.alu_stream import TileKnobs
from hw_sim.isa import AluInsn, MemInsn, MemType, Opcode
from hw_sim.timing import insn_timing

TILE_STREAM_FEATURES = (
    "log_tiles",
    "log_rows_per_tile",
    "log_insns",
    "log_alu_insns",
    "log_alu_uops",
    "log_uop_loads",
    "log_data_loads",
    "log_stores",
    "log_compute_cycles",
    "log_store_cycles",
    "store_over_compute",
    "pred_useful_share",
    "pred_useful_share_serial",
    "threads",
    "occ_acc",
    *(f"kind_{k}" for k in TILE_KINDS),
)
TILE_FEATURE_NAMES = TILE_STREAM_FEATURES + HW_FEATURES


def useful_vectors(op) -> int:
    """Output vectors of the operator (knob-free): the numerator of its 'utilization' label."""
    (nb, cb), rows = op.blocks, op.tiled_rows
    if op.kind == "maxpool":
        return nb * cb * rows * op.out_hw[1]
    return nb * cb * (2 * rows) * (2 * op.shape[3])


def _log(x: float) -> float:
    return math.log2(1.0 + x)


def tile_features(space: TileSpace, k: TileKnobs) -> list[float]:
    """The summary of the program of `k` (see TILE_STREAM_FEATURES)."""
    from compiler.vta.build import build

    cfg, op = space.cfg, space.op
    prog = build(op, cfg, k).program
    n = dict.fromkeys(("alu", "uop", "data", "store"), 0)
    alu_uops = compute = store = 0
    for insn in prog.insns:
        cyc = insn_timing(insn, cfg).duration
        if isinstance(insn, MemInsn) and insn.opcode == Opcode.STORE:
            n["store"] += 1
            store += cyc
            continue
        compute += cyc
        if isinstance(insn, AluInsn):
            n["alu"] += 1
            alu_uops += insn.n_uops
        elif isinstance(insn, MemInsn):
            n["uop" if insn.mem_type == MemType.UOP else "data"] += 1
    tiles = space.tiles(k)
    serial = compute + store
    overlapped = max(compute, store) + serial / tiles
    useful = useful_vectors(op)
    rows_per_tile = space.kind.tile_rows(op, k)
    return [
        _log(tiles),
        _log(rows_per_tile),
        _log(len(prog.insns)),
        _log(n["alu"]),
        _log(alu_uops),
        _log(n["uop"]),
        _log(n["data"]),
        _log(n["store"]),
        _log(compute),
        _log(store),
        store / max(1, compute),
        useful / (overlapped if k.threads > 1 else serial),
        useful / serial,
        k.threads,
        k.threads * rows_per_tile / cfg.acc_depth,
        *(float(op.kind == kind) for kind in TILE_KINDS),
    ]
