"""Pass `fold_uop_loops`: micro-op loop nests -> kernels with the two hardware loop levels."""

from __future__ import annotations

from vta_helpers import through_gemm

from compiler.tir.nodes import Attr, For
from compiler.tir.visit import walk
from compiler.vta.uop import UopKernel, fold_uop_loops
from hw_sim.isa import AluOp


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
