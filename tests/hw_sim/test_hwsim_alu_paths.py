"""Loops whose speed once depended on their shape: repeated destinations, aliasing tensor-operand
ALU loops (compiled sequential loop), immediate loops in closed form, zero-factor GEMM levels.
Results against one-micro-op-at-a-time references; run times against generous bounds."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hw_sim import alu_kernel, functional
from hw_sim.builder import ProgramBuilder
from hw_sim.functional import SramState, Where, alu_apply_repeated
from hw_sim.isa import AluInsn, AluOp, GemmInsn, Uop
from hw_sim.simulator import simulate
from tests.conftest import sweep_size
from tests.hw_sim.alu_reference import py_alu, reference_alu


def _state(cfg, rng):
    st = SramState(cfg)
    st.acc[:] = rng.integers(-(2**31), 2**31, st.acc.shape, dtype=np.int64)
    st.acc[:64] = rng.integers(-40, 40, st.acc[:64].shape)  # small values: shifts both ways
    st.inp[:] = rng.integers(-128, 128, st.inp.shape)
    st.inp_f[:] = st.inp.reshape(st.inp_f.shape)
    st.wgt[:] = rng.integers(-128, 128, st.wgt.shape)
    st.wgt_f[:] = st.wgt
    return st


@pytest.mark.parametrize("op", list(AluOp))
def test_sequential_kernel_matches_python_lanes(rng, op):
    acc = rng.integers(-(2**31), 2**31, (32, 1, 12), dtype=np.int64).astype(np.int32)
    edges = [-40, -33, -32, -31, -1, 0, 1, 30, 31, 32, 33, 40]  # shift amounts at the bounds
    acc[::2] = rng.choice(edges, acc[::2].shape)
    acc[0, 0] = edges
    dst, src = rng.integers(0, 32, 300), rng.integers(0, 32, 300)
    dst[0], src[0] = 1, 0  # the first micro-op reads every edge amount
    want = [row.reshape(-1).tolist() for row in acc]
    for d, s in zip(dst.tolist(), src.tolist(), strict=True):
        want[d] = [py_alu(op, x, y) for x, y in zip(want[d], list(want[s]), strict=True)]
    alu_kernel.run_sequential(acc, op, dst, src, None)
    assert acc.reshape(32, -1).tolist() == want


@pytest.mark.parametrize("op", list(AluOp))
@pytest.mark.parametrize("imm", [0, 1, 3, -2, 31, -33, 7919, -(2**15)])
def test_repeated_immediate_closed_form(op, imm):
    a = np.array([[-(2**31)], [-5], [-1], [0], [1], [77], [2**31 - 1]], np.int32)
    counts = np.array([1, 2, 3, 5, 40, 33, 1000])
    got = alu_apply_repeated(op, a, imm, counts)
    for row, k in zip(range(len(a)), counts.tolist(), strict=True):
        v = int(a[row, 0])
        for _ in range(k):
            v = py_alu(op, v, imm)
        assert int(got[row, 0]) == v, (row, k)


FACTORS = ("dst_factor_out", "dst_factor_in", "src_factor_out", "src_factor_in")


def test_alu_loops_with_repeats_and_aliasing(cfg, rng):
    """Longer loops over few rows: every path (vectorized, closed form, compiled) is taken."""
    kinds = set()
    for _ in range(sweep_size(40)):
        st = _state(cfg, rng)
        k = int(rng.integers(1, 12))
        st.uop[:k, 0] = rng.integers(0, 24, k)
        st.uop[:k, 1] = rng.integers(0, 24, k)
        insn = AluInsn(alu_op=AluOp(int(rng.integers(0, 5))), use_imm=bool(rng.random() < 0.4),
                       imm=int(rng.integers(-40, 40)), uop_bgn=0, uop_end=k,
                       iter_out=int(rng.integers(1, 9)), iter_in=int(rng.integers(1, 9)),
                       **{f: int(rng.integers(0, 3)) for f in FACTORS})  # fmt: skip
        kinds.add(functional._alu_plan(st, insn, Where(0, insn))[0])
        want = reference_alu(st, insn)
        functional.alu(st, insn, Where(0, insn))
        np.testing.assert_array_equal(st.acc, want[0])
        np.testing.assert_array_equal(st.out, want[1])
    assert {"ordered", "imm_counts"} <= kinds


def test_chunked_tensor_alu_is_sequential(cfg, rng, monkeypatch):
    monkeypatch.setattr(functional, "CHUNK_UOPS", 7)
    st = _state(cfg, rng)
    st.uop[:3] = [(1, 0, 0), (2, 1, 0), (1, 2, 0)]
    insn = AluInsn(alu_op=AluOp.ADD, uop_bgn=0, uop_end=3, iter_out=5, iter_in=3,
                   dst_factor_out=1, dst_factor_in=2, src_factor_out=3,
                   src_factor_in=1)  # fmt: skip
    assert functional._alu_plan(st, insn, Where(0, insn))[0] == "chunked"
    want = reference_alu(st, insn)
    functional.alu(st, insn, Where(0, insn))
    np.testing.assert_array_equal(st.acc, want[0])
    np.testing.assert_array_equal(st.out, want[1])


def test_zero_factor_gemm_levels_multiply_products(cfg, rng):
    """A level that moves nothing adds the same products `iter` times, modulo 2**32."""
    st = _state(cfg, rng)
    st.inp[:4] = 127
    st.inp_f[:4] = 127
    st.wgt[:4] = -128
    st.wgt_f[:4] = -128
    st.uop[:3] = [(0, 0, 0), (1, 1, 1), (0, 2, 3)]
    acc0 = st.acc.astype(np.int64)
    insn = GemmInsn(uop_bgn=0, uop_end=3, iter_out=16383, iter_in=9, dst_factor_in=2,
                    src_factor_in=0, wgt_factor_in=0)  # fmt: skip
    assert functional._gemm_plan(st, insn, Where(0, insn))[0] == "generic"
    functional.gemm(st, insn, Where(0, insn))
    prod = 127 * -128 * cfg.block_in
    want = acc0.copy()
    for i in range(9):
        want[2 * i] += 2 * 16383 * prod
        want[1 + 2 * i] += 16383 * prod
    want = (want + 2**31) % 2**32 - 2**31
    np.testing.assert_array_equal(st.acc, want.astype(np.int32))


def _one_insn_program(cfg, insn, n_uops=1):
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(dst=u % 3, src=3, wgt=0) for u in range(n_uops)]))
    b.emit(insn)
    b.finish()
    return b.build()


@pytest.mark.parametrize("use_imm", [True, False])
def test_pathological_alu_loops_are_fast(default_cfg, use_imm):
    """Loops that took hours: 2.7e8 immediate micro-ops on three rows; a few million aliasing
    tensor micro-ops. Bounds are generous (a loaded 2-core machine), the old paths were far off."""
    if use_imm:
        insn = AluInsn(alu_op=AluOp.ADD, use_imm=True, imm=3, uop_bgn=0, uop_end=1,
                       iter_out=16383, iter_in=16383)  # fmt: skip
    else:
        insn = AluInsn(alu_op=AluOp.MAX, uop_bgn=0, uop_end=64, iter_out=256, iter_in=128)
    prog = _one_insn_program(default_cfg, insn, n_uops=insn.uop_end)
    t0 = time.perf_counter()
    simulate(prog)
    assert time.perf_counter() - t0 < (3 if use_imm else 15)
