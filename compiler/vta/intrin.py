"""Hardware intrinsics and memory scopes, declared once from the hardware config.

The GEMM intrinsic is `acc[b, o] += sum_i inp[b, i] * wgt[o, i]` on one SRAM row of each buffer:
inp (BATCH, BLOCK_IN) int8, wgt (BLOCK_OUT, BLOCK_IN) int8, acc (BATCH, BLOCK_OUT) int32. Every
SRAM buffer in the loop IR ends with these two element dims; the rows are everything before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hw_sim.config import HwConfig
from hw_sim.isa import MemType

INP = "vta.inp"
WGT = "vta.wgt"
ACC = "vta.acc"
SCOPES = (INP, WGT, ACC)


@dataclass(frozen=True)
class GemmIntrin:
    """Shapes of the GEMM intrinsic (from the config)."""

    batch: int
    block_in: int
    block_out: int

    @property
    def inp_elem(self) -> tuple[int, int]:
        return (self.batch, self.block_in)

    @property
    def wgt_elem(self) -> tuple[int, int]:
        return (self.block_out, self.block_in)

    @property
    def acc_elem(self) -> tuple[int, int]:
        return (self.batch, self.block_out)


def gemm_intrin(cfg: HwConfig) -> GemmIntrin:
    return GemmIntrin(cfg.batch, cfg.block_in, cfg.block_out)


def scope_elem(cfg: HwConfig, scope: str) -> tuple[int, int]:
    g = gemm_intrin(cfg)
    return {INP: g.inp_elem, WGT: g.wgt_elem, ACC: g.acc_elem}[scope]


def scope_depth(cfg: HwConfig, scope: str) -> int:
    return {INP: cfg.inp_depth, WGT: cfg.wgt_depth, ACC: cfg.acc_depth}[scope]


def scope_mem(scope: str, dtype: str) -> MemType:
    """The LOAD memory type filling `scope` from a DRAM tensor of `dtype`."""
    if scope == INP:
        return MemType.INP
    if scope == WGT:
        return MemType.WGT
    return MemType.ACC if dtype == "int32" else MemType.ACC_8BIT


def uop_kernel_budget(cfg: HwConfig) -> int:
    """Most micro-ops one kernel may unroll (the rest is folded into loops or left to codegen)."""
    return cfg.uop_depth // 4


def waw_free(exts: list[int], dst_factors: list[int | None]) -> bool:
    """True if a micro-op loop nest (extents and destination-row factors, outer to inner, no
    unit loops) never writes a row that one of the two micro-ops before it wrote — the rule of
    HLS's II=1 accumulator pipeline (VTA's `VerifyDep`; `hw_sim.hazards` checks it).

    In lexicographic order the step from one micro-op to the next is either the innermost loop
    advancing (row delta `f_last`) or a carry into loop j (delta `d_j = f_j - sum_{l>j} f_l *
    (e_l - 1)`); every carry sits between two innermost steps, so the distance-1 deltas are
    `f_last` and the `d_j`, the distance-2 ones `2 f_last` (if `e_last >= 3`) and
    `d_j + f_last`: the rule holds iff none is 0. A factor of None (not affine) counts as
    varying.
    """
    if not exts:
        return True
    if any(f is None for f in dst_factors):
        return True
    *outer, last = range(len(exts))
    f_last = dst_factors[last]
    if f_last == 0:
        return False
    for j in outer:
        d = dst_factors[j] - sum(dst_factors[k] * (exts[k] - 1) for k in range(j + 1, len(exts)))
        if d == 0 or d + f_last == 0:
            return False
    return True


def uop_fold_split(
    exts: list[int], budget: int, dst_factors: list[int | None] | None = None
) -> int:
    """Where a micro-op loop nest (extents outer to inner, unit loops dropped) is cut.

    Returns p: loops `[:p]` stay code-generator loops (one instruction per iteration), loops
    `[p:p + 2]` become the instruction's `iter_out`/`iter_in`, and loops `[p + 2:]` are unrolled
    into the kernel — p is the smallest cut whose unrolled part has at most `budget` micro-ops
    and, given the destination-row factors of the loops, whose instruction respects `waw_free`
    (a tile of fewer than three output rows then runs one reduction step per instruction).
    Shared by `fold_uop_loops` and the schedule heuristic's cost model so the two agree.
    """
    p = 0
    while p < len(exts) and (
        math.prod(exts[p + 2 :]) > budget
        or (dst_factors is not None and not waw_free(exts[p:], dst_factors[p:]))
    ):
        p += 1
    return p
