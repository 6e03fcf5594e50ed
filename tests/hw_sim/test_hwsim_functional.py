"""The functional spec's bulk paths against a one-micro-op-at-a-time Python reference (for the
ALU: plain Python integers, independent of `alu_apply`):
aliasing ALU loops, repeated GEMM destinations, the dense-product and chunked GEMM paths."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim import functional
from hw_sim.functional import SramState, Where, alu_apply
from hw_sim.isa import AluInsn, AluOp, GemmInsn
from tests.conftest import sweep_size
from tests.hw_sim.alu_reference import py_alu, reference_alu


def _state(cfg, rng, n_uops):
    st = SramState(cfg)
    st.inp[:] = rng.integers(-128, 128, st.inp.shape)
    st.inp_f[:] = st.inp.reshape(st.inp_f.shape)
    st.wgt[:] = rng.integers(-128, 128, st.wgt.shape)
    st.wgt_f[:] = st.wgt
    st.acc[:] = rng.integers(-(2**31), 2**31, st.acc.shape, dtype=np.int64)
    st.out[:] = rng.integers(-128, 128, st.out.shape)
    return st


def _loop(insn):
    for o in range(insn.iter_out):
        for i in range(insn.iter_in):
            for u in range(insn.uop_bgn, insn.uop_end):
                yield o, i, u


def _reference_gemm(st, insn):
    acc, out = st.acc.astype(np.int64), st.out.copy()
    for o, i, u in _loop(insn):
        d0, s0, w0 = (int(v) for v in st.uop[u])
        d = d0 + o * insn.dst_factor_out + i * insn.dst_factor_in
        s = s0 + o * insn.src_factor_out + i * insn.src_factor_in
        w = w0 + o * insn.wgt_factor_out + i * insn.wgt_factor_in
        if insn.reset:
            acc[d] = 0
            continue
        prod = st.inp[s].astype(np.int64) @ st.wgt[w].astype(np.int64).T
        acc[d] = (acc[d] + prod).astype(np.int32)
        out[d] = acc[d].astype(np.int32).astype(np.int8)
    return acc.astype(np.int32), out


def _random_uops(st, rng, n, dst_hi, src_hi, wgt_hi):
    st.uop[:n, 0] = rng.integers(0, dst_hi, n)
    st.uop[:n, 1] = rng.integers(0, src_hi, n)
    st.uop[:n, 2] = rng.integers(0, wgt_hi, n)


def test_gemm_random_loops_match_reference(cfg, rng):
    for _ in range(sweep_size(20)):
        st = _state(cfg, rng, 8)
        k = int(rng.integers(1, 6))
        _random_uops(st, rng, k, 8, 8, 8)  # small ranges: destinations repeat
        insn = GemmInsn(uop_bgn=0, uop_end=k, iter_out=int(rng.integers(1, 4)),
                        iter_in=int(rng.integers(1, 4)),
                        **{f: int(rng.integers(0, 3)) for f in (
                            "dst_factor_out", "dst_factor_in", "src_factor_out",
                            "src_factor_in", "wgt_factor_out", "wgt_factor_in")},
                        reset=bool(rng.random() < 0.2))  # fmt: skip
        want = _reference_gemm(st, insn)
        functional.gemm(st, insn, Where(0, insn))
        np.testing.assert_array_equal(st.acc, want[0])
        np.testing.assert_array_equal(st.out, want[1])


@pytest.mark.parametrize("reduce_level", ["out", "in"])
def test_gemm_dense_product_path(cfg, rng, reduce_level):
    """A loop with a pure reduction level takes the one-matmul path; same result."""
    st = _state(cfg, rng, 4)
    rows = 4
    st.uop[:rows] = [(r * 3, r * 2, 1) for r in range(rows)]
    if reduce_level == "out":
        loop = dict(iter_out=2, iter_in=3, dst_factor_in=1, src_factor_out=1,
                    wgt_factor_out=1, wgt_factor_in=2)  # fmt: skip
    else:
        loop = dict(iter_out=3, iter_in=2, dst_factor_out=1, src_factor_in=1,
                    wgt_factor_in=1, wgt_factor_out=2)  # fmt: skip
    insn = GemmInsn(uop_bgn=0, uop_end=rows, **loop)
    assert functional._gemm_plan(st, insn, Where(0, insn))[0] == "factored"
    want = _reference_gemm(st, insn)
    functional.gemm(st, insn, Where(0, insn))
    np.testing.assert_array_equal(st.acc, want[0])
    np.testing.assert_array_equal(st.out, want[1])


def test_gemm_chunked_path(cfg, rng, monkeypatch):
    monkeypatch.setattr(functional, "CHUNK_UOPS", 5)
    st = _state(cfg, rng, 4)
    _random_uops(st, rng, 3, 6, 6, 6)
    insn = GemmInsn(uop_bgn=0, uop_end=3, iter_out=4, iter_in=2, dst_factor_out=1,
                    src_factor_in=1, wgt_factor_out=1)  # fmt: skip
    want = _reference_gemm(st, insn)
    functional.gemm(st, insn, Where(0, insn))
    np.testing.assert_array_equal(st.acc, want[0])


@pytest.mark.parametrize("op", list(AluOp))
@pytest.mark.parametrize("use_imm", [True, False])
def test_alu_aliasing_is_sequential(cfg, rng, op, use_imm):
    """Micro-ops whose destinations repeat or feed later sources (a prefix-sum chain)."""
    st = _state(cfg, rng, 8)
    st.acc[:16] = rng.integers(-50, 50, st.acc[:16].shape)
    n = 6
    st.uop[:n] = [(i + 1, i, 0) for i in range(n)]  # ACC[i+1] = op(ACC[i+1], ACC[i])
    insn = AluInsn(alu_op=op, use_imm=use_imm, imm=3, uop_bgn=0, uop_end=n, iter_out=2,
                   dst_factor_out=1, src_factor_out=1)  # fmt: skip
    want = reference_alu(st, insn)
    functional.alu(st, insn, Where(0, insn))
    np.testing.assert_array_equal(st.acc, want[0])
    np.testing.assert_array_equal(st.out, want[1])


FACTORS = ("dst_factor_out", "dst_factor_in", "src_factor_out", "src_factor_in")


def test_alu_random_loops_match_reference(cfg, rng):
    for _ in range(sweep_size(30)):
        st = _state(cfg, rng, 8)
        st.acc[:32] = rng.integers(-40, 40, st.acc[:32].shape)
        k = int(rng.integers(1, 5))
        _random_uops(st, rng, k, 10, 10, 1)
        insn = AluInsn(alu_op=AluOp(int(rng.integers(0, 5))), use_imm=bool(rng.random() < 0.5),
                       imm=int(rng.integers(-40, 40)), uop_bgn=0, uop_end=k,
                       iter_out=int(rng.integers(1, 4)), iter_in=int(rng.integers(1, 4)),
                       **{f: int(rng.integers(0, 3)) for f in FACTORS})  # fmt: skip
        want = reference_alu(st, insn)
        functional.alu(st, insn, Where(0, insn))
        np.testing.assert_array_equal(st.acc, want[0])


def test_shift_semantics():
    a = np.array([-(2**31), -5, -1, 0, 1, 7, 2**31 - 1], np.int32)
    for s in (-40, -32, -31, -3, 0, 3, 31, 32, 40):
        got = alu_apply(AluOp.SHR, a, s)
        for x, g in zip(a.tolist(), got.tolist(), strict=True):
            want = x >> min(s, 31) if s >= 0 else ((x << min(-s, 32)) + 2**31) % 2**32 - 2**31
            assert g == want, (x, s)


def test_gemm_exact_at_extremes(cfg):
    """All -128 inputs and weights: the largest dot products, summed many times, wrap exactly."""
    st = SramState(cfg)
    st.inp[:] = -128
    st.inp_f[:] = -128
    st.wgt[:] = -128
    st.wgt_f[:] = -128
    st.uop[0] = (0, 0, 0)
    insn = GemmInsn(uop_bgn=0, uop_end=1, iter_out=10000, iter_in=1)
    functional.gemm(st, insn, Where(0, insn))
    want = np.int64(10000 * cfg.block_in * 128 * 128)  # beyond int32: wraps
    assert (st.acc[0] == np.int64(want).astype(np.int32)).all()


def test_gemm_grouped_dense_products(cfg, rng):
    """conv-like loop: micro-ops enumerate (output pixel, kernel tap); taps use different weight
    rows and input windows and write the same output rows: one product over all the windows."""
    st = _state(cfg, rng, 4)
    pixels, taps = 6, 3
    st.uop[: pixels * taps] = [
        (p, p + t, t * 2) for t in range(taps) for p in range(pixels)
    ]  # fmt: skip
    insn = GemmInsn(uop_bgn=0, uop_end=pixels * taps, iter_out=2, iter_in=2,
                    dst_factor_in=pixels, src_factor_out=pixels + taps,
                    wgt_factor_out=1, wgt_factor_in=taps * 2)  # fmt: skip
    plan = functional._gemm_plan(st, insn, Where(0, insn))
    assert plan[0] == "factored" and len(plan[1]) == 1  # taps write the same rows:
    assert len(plan[1][0][1]) == taps  # one product whose reduction spans the taps' windows
    want = _reference_gemm(st, insn)
    functional.gemm(st, insn, Where(0, insn))
    np.testing.assert_array_equal(st.acc, want[0])
    np.testing.assert_array_equal(st.out, want[1])


def test_gemm_both_levels_reduce(cfg, rng):
    """The compiler's conv kernels: both loop levels walk the kernel window (dst factors 0),
    micro-ops enumerate output pixels x output-channel blocks (one wgt row per block)."""
    st = _state(cfg, rng, 4)
    pixels, blocks, width = 5, 2, 7
    st.uop[: pixels * blocks] = [
        (b * pixels + p, p, b * 9) for b in range(blocks) for p in range(pixels)
    ]  # fmt: skip
    insn = GemmInsn(uop_bgn=0, uop_end=pixels * blocks, iter_out=3, iter_in=3,
                    src_factor_out=width, src_factor_in=1, wgt_factor_out=3,
                    wgt_factor_in=1)  # fmt: skip
    plan = functional._gemm_plan(st, insn, Where(0, insn))
    assert plan[0] == "factored" and len(plan[1]) == 1  # blocks read the same rows: merged
    assert plan[1][0][1][0][0] == "view"  # pixels in a row: a strided window, not a gather
    want = _reference_gemm(st, insn)
    functional.gemm(st, insn, Where(0, insn))
    np.testing.assert_array_equal(st.acc, want[0])
    np.testing.assert_array_equal(st.out, want[1])


def _batch2(cfg):
    from hw_sim.config import HwConfig

    return HwConfig.from_dict(cfg.to_dict() | {"LOG_BATCH": 1}, name=f"{cfg.name}-batch2")


@pytest.mark.parametrize("batch2", [False, True])
def test_gemm_structured_random_loops(cfg, rng, batch2):
    """Loops shaped like compiler kernels (dst factors often 0, arithmetic src rows, a few
    weight rows), so the dense-product paths (merged, grouped, strided view) are exercised;
    also at BATCH = 2."""
    if batch2:
        cfg = _batch2(cfg)
    for _ in range(sweep_size(25)):
        st = _state(cfg, rng, 8)
        k = int(rng.integers(1, 9))
        step = int(rng.integers(0, 3))
        blocks = int(rng.integers(1, 3))
        per = max(1, k // blocks)
        uops = []
        for blk in range(blocks):
            for p in range(per):
                src = p * step if rng.random() < 0.8 else int(rng.integers(0, 8))
                uops.append((blk * per + p * int(rng.integers(1, 3)), src, blk * 5))
        st.uop[: len(uops)] = uops
        fields = {}
        for lv in ("out", "in"):
            fields[f"dst_factor_{lv}"] = int(rng.choice([0, 0, 1, 7]))
            fields[f"src_factor_{lv}"] = int(rng.choice([0, 1, 3]))
            fields[f"wgt_factor_{lv}"] = int(rng.choice([0, 1, 2]))
        insn = GemmInsn(uop_bgn=0, uop_end=len(uops), iter_out=int(rng.integers(1, 4)),
                        iter_in=int(rng.integers(1, 4)), **fields)  # fmt: skip
        want = _reference_gemm(st, insn)
        functional.gemm(st, insn, Where(0, insn))
        np.testing.assert_array_equal(st.acc, want[0], err_msg=str(insn))
        np.testing.assert_array_equal(st.out, want[1])


def test_gemm_random_loops_batch2(cfg, rng):
    test_gemm_random_loops_match_reference(_batch2(cfg), rng)


@pytest.mark.parametrize("op", list(AluOp))
def test_alu_apply_matches_python_definition(rng, op):
    """alu_apply (the bulk NumPy form) against plain Python integers, including extremes."""
    edge = [-(2**31), -(2**31) + 1, -65536, -129, -1, 0, 1, 127, 65535, 2**31 - 1]
    a = np.array(edge + rng.integers(-(2**31), 2**31, 30).tolist(), dtype=np.int64)
    b = np.array(edge[::-1] + rng.integers(-40, 40, 30).tolist(), dtype=np.int64)

    def ref(x, y):
        return py_alu(op, x, y)

    got = alu_apply(op, a.astype(np.int32), b.astype(np.int32))
    assert got.dtype == np.int32
    assert got.tolist() == [ref(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    imm = int(rng.integers(-(2**15), 2**15))
    got = alu_apply(op, a.astype(np.int32), imm)
    assert got.tolist() == [ref(x, imm) for x in a.tolist()]
