"""Pass `fold_uop_loops`: micro-op loop nests -> kernels with the two hardware loop levels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from vta_helpers import through_gemm

from compiler.schedule.vta_gemm import Knobs
from compiler.tir.nodes import Attr, For
from compiler.tir.visit import walk
from compiler.vta.build import build
from compiler.vta.intrin import waw_free
from compiler.vta.ops import conv2d_op
from compiler.vta.uop import UopKernel, fold_uop_loops
from hw_sim.hazards import check_rules
from hw_sim.isa import AluOp, GemmInsn


def test_fold_two_outer_loops_into_instruction(cfg):
    g = fold_uop_loops(through_gemm(cfg), cfg)
    kernels = [n for n in walk(g.body) if isinstance(n, Attr) and n.key == "vta.uop_kernel"]
    gemm = next(k for k in kernels if k.value.mode == "gemm" and not k.value.reset)
    k: UopKernel = gemm.value
    # loops inside the input-channel step: ky(3), kx(3), y(2), x(4): ky/kx fold, y/x unroll
    assert (k.iter_out, k.iter_in) == (3, 3)
    assert (k.dst_factor_out, k.dst_factor_in) == (0, 0)
    assert (k.src_factor_out, k.src_factor_in) == (6, 1)  # input tile rows are 4 + 2 wide
    assert (k.wgt_factor_out, k.wgt_factor_in) == (3, 1)
    inner = [n for n in walk(gemm.body) if isinstance(n, For)]
    assert [int(lp.extent.value) for lp in inner] == [2, 4]
    alu = [k.value for k in kernels if k.value.mode == "alu"]
    assert [a.alu.op for a in alu] == [AluOp.SHR, AluOp.ADD, AluOp.MAX, AluOp.MIN]
    assert all(a.iter_out * a.iter_in == 8 for a in alu)  # a 2x4 tile, one uop per kernel


def _brute_waw_free(exts, factors) -> bool:
    dst = [sum(f * i for f, i in zip(factors, idx, strict=True)) for idx in itertools.product(
        *[range(e) for e in exts])]  # fmt: skip
    return all(dst[k] != dst[k - 1] and (k < 2 or dst[k] != dst[k - 2]) for k in range(1, len(dst)))


def test_waw_free_matches_expansion():
    """The closed-form write-after-write rule equals expanding the loops (random nests)."""
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(600):
        n = int(rng.integers(1, 4))
        exts = [int(e) for e in rng.integers(2, 5, n)]
        factors = [int(f) for f in rng.choice([-3, -1, 0, 0, 1, 2, 3, 4], n)]
        want = _brute_waw_free(exts, factors)
        assert waw_free(exts, factors) == want, (exts, factors)
        seen.add(want)
    assert seen == {True, False}


@pytest.mark.parametrize("tile_w,tile_ci", [(1, 1), (2, 1), (2, 2), (3, 1)])
def test_small_tiles_split_the_reduction(cfg, tile_w, tile_ci):
    """A tile with fewer than three output rows cannot run its reduction in one instruction
    (HLS's accumulator pipeline): `fold_uop_loops` cuts the nest so each instruction respects
    the distance-2 rule; three rows fold as usual."""
    op = conv2d_op(cfg, 1, 2 * cfg.block_in, 6, 6, cfg.block_out, 3, 1, 1)
    prog = build(op, cfg, Knobs(tile_w=tile_w, tile_ci=tile_ci)).program
    _, counts = check_rules(prog)
    assert counts["uop-waw"] == 0
    most = max(i.n_uops for i in prog.insns if isinstance(i, GemmInsn) and not i.reset)
    # three rows: the whole step (3x3 window, tile_ci blocks) in one instruction; fewer: one
    # window position and input block per instruction
    assert most == (9 * tile_w * tile_ci if tile_w >= 3 else tile_w)
