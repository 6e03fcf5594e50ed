"""The three OUT-buffer semantics and the portability checker (`hw_sim.portability`,
`hw_sim.hazards`): hand-built programs that break one rule each, every example program, and
`vtac sim --portable`."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.builder import ProgramBuilder
from hw_sim.examples import EXAMPLES
from hw_sim.functional import OUT_SEMANTICS
from hw_sim.hazards import check_rules, happens_before
from hw_sim.isa import AluOp, MemType, Module, Uop
from hw_sim.portability import check_portable
from hw_sim.simulator import simulate

pytestmark = pytest.mark.sim

M = 4  # rows of the hand-built programs


def _gemm_program(cfg, rng, tail: str = "none", reset_waits: bool = True):
    """OUT rows 0..M-1 = int8(x . w^T) by one GEMM; then `tail` ("none", "reset": a GEMM reset,
    "load_acc": LOAD ACC of `a`) and a STORE of the rows. Returns (program, P, a)."""
    x = rng.integers(-128, 128, (M, cfg.batch, cfg.block_in)).astype(np.int8)
    w = rng.integers(-128, 128, (1, cfg.block_out, cfg.block_in)).astype(np.int8)
    a = rng.integers(-1000, 1000, (M, cfg.batch, cfg.block_out)).astype(np.int32)
    b = ProgramBuilder(cfg)
    xb, wb, ab = b.buffer("x", data=x), b.buffer("w", data=w), b.buffer("a", data=a)
    out = b.buffer("out", shape=(M, cfg.batch, cfg.block_out), dtype=np.int8)
    b.load_uop(b.uop_kernel([Uop(r, r, 0) for r in range(M)]))
    b.load(MemType.WGT, sram=0, buf=wb, y=1, x=1)
    b.load(MemType.INP, sram=0, buf=xb, y=1, x=M, push_next=True)
    b.gemm(reset=True, uop_bgn=0, uop_end=M)
    b.gemm(uop_bgn=0, uop_end=M, pop_prev=True, push_next=tail == "none")
    if tail == "reset":
        b.gemm(reset=True, uop_bgn=0, uop_end=M, push_next=True)
    elif tail == "load_acc":
        b.load(MemType.ACC, sram=0, buf=ab, y=1, x=M, push_next=True)
    b.store(0, out, y=1, x=M, pop_prev=True, push_prev=True)
    b.nop(Module.COMPUTE, pop_next=True)
    b.finish()
    prod = np.einsum("mbk,jk->mbj", x.astype(np.int64), w[0].astype(np.int64))
    return b.build(), prod.astype(np.int32).astype(np.int8), a


def _stored(prog, sem):
    return prog.read_buffer(simulate(prog, out_semantics=sem).dram, "out")


def test_semantics_agree_on_a_clean_program(cfg, rng):
    prog, p, _ = _gemm_program(cfg, rng)
    runs = {s: simulate(prog, out_semantics=s) for s in OUT_SEMANTICS}
    for s, r in runs.items():
        np.testing.assert_array_equal(prog.read_buffer(r.dram, "out"), p, err_msg=s)
        assert r.stats.counters() == runs["chisel"].stats.counters()  # timing is the same
    report = check_portable(prog, cfg)
    assert report.portable and report.dram_equal and report.divergence is None, report.summary()
    assert report.cycles == runs["chisel"].stats.total_cycles


def test_a_stored_reset_row_differs_per_semantics(cfg, rng):
    prog, p, _ = _gemm_program(cfg, rng, tail="reset")
    np.testing.assert_array_equal(_stored(prog, "chisel"), p)  # reset leaves OUT alone
    np.testing.assert_array_equal(_stored(prog, "hls"), ~p)  # the stand-in for HLS's garbage
    np.testing.assert_array_equal(_stored(prog, "fsim"), np.zeros_like(p))  # STORE reads ACC
    report = check_portable(prog)
    assert not report.portable and not report.dram_equal
    store = next(i for i, insn in enumerate(prog.insns) if insn.opcode == 1)
    assert report.divergence.store == store
    assert report.divergence.rows == tuple(range(M))
    assert "buffer 'out'" in report.divergence.text()
    v = [v for v in report.violations if v.rule == "store-source"]
    assert len(v) == 1 and v[0].index == store and v[0].other == store - 1
    assert "GEMM reset" in v[0].message


def test_a_row_last_written_by_load_acc(cfg, rng):
    prog, p, a = _gemm_program(cfg, rng, tail="load_acc")
    np.testing.assert_array_equal(_stored(prog, "chisel"), p)  # LOAD ACC does not write OUT
    np.testing.assert_array_equal(_stored(prog, "hls"), p)
    np.testing.assert_array_equal(_stored(prog, "fsim"), a.astype(np.int8))
    report = check_portable(prog)
    assert not report.portable
    assert [v.rule for v in report.violations] == ["store-source"]
    assert "LOAD ACC" in report.violations[0].message


def _ring(cfg, rng, groups=6, ring=2, reset_waits=True):
    """small_insn_stream's pattern: the reset of a ring slot waits (or not) for its store."""
    x = rng.integers(-128, 128, (groups, cfg.batch, cfg.block_in)).astype(np.int8)
    b = ProgramBuilder(cfg)
    xb = b.buffer("x", data=x)
    wb = b.buffer(
        "w", data=rng.integers(-128, 128, (1, cfg.block_out, cfg.block_in)).astype(np.int8)
    )
    out = b.buffer("out", shape=(groups, cfg.batch, cfg.block_out), dtype=np.int8)
    b.load_uop(b.uop_kernel([Uop(r, r, 0) for r in range(ring)]))
    b.load(MemType.WGT, sram=0, buf=wb, y=1, x=1)
    for g in range(groups):
        r, later = g % ring, g >= ring
        b.load(MemType.INP, sram=r, buf=xb, y=1, x=1, elem_offset=g, pop_next=later,
               push_next=True)  # fmt: skip
        b.gemm(reset=True, uop_bgn=r, uop_end=r + 1, pop_next=later and reset_waits)
        b.gemm(uop_bgn=r, uop_end=r + 1, pop_prev=True, pop_next=later and not reset_waits,
               push_prev=g + ring < groups, push_next=True)  # fmt: skip
        b.store(r, out, y=1, x=1, elem_offset=g, pop_prev=True, push_prev=True)
    for _ in range(ring):
        b.nop(Module.COMPUTE, pop_next=True)
    b.finish()
    return b.build()


def test_a_reset_racing_the_store_is_found_statically_and_in_fsim_order(cfg, rng):
    bad = _ring(cfg, rng, reset_waits=False)
    # hw_sim's timing happens to run each STORE before the next reset of its slot...
    runs = [simulate(bad, out_semantics=s).dram for s in OUT_SEMANTICS]
    assert all(np.array_equal(runs[0], d) for d in runs)
    report = check_portable(bad)
    # ...but no token orders them: fsim's scheduler runs compute ahead and stores zeros
    assert not report.portable and not report.dram_equal
    assert report.divergence.lanes["fsim-order"] == [0] * (cfg.batch * cfg.block_out)
    races = [v for v in report.violations if v.rule == "race"]
    assert races and races[0].index == report.divergence.store
    assert check_portable(_ring(cfg, rng)).portable


def test_uop_write_after_write_distance(cfg):
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0), Uop(1, 1, 0), Uop(0, 2, 0), Uop(2, 0, 0)]))
    b.gemm(uop_bgn=0, uop_end=2)  # 0, 1: fine
    b.gemm(uop_bgn=0, uop_end=3)  # 0, 1, 0: two apart
    b.gemm(uop_bgn=0, uop_end=1, iter_in=2)  # 0, 0: the loop repeats the row
    b.alu(AluOp.ADD, imm=1, uop_bgn=1, uop_end=4, iter_in=2, dst_factor_in=3)  # 1 0 2 4 3 5
    b.finish()
    v, counts = check_rules(b.build())
    waw = [x for x in v if x.rule == "uop-waw"]
    assert [x.index for x in waw] == [2, 3] and counts["uop-waw"] == 2
    assert "2 before" in waw[0].message and "1 before" in waw[1].message


def test_token_rules(cfg):
    b = ProgramBuilder(cfg)
    b.nop(Module.LOAD, push_next=True)  # never popped
    b.nop(Module.STORE)  # nothing orders it before FINISH
    b.finish()
    v, counts = check_rules(b.build())
    assert counts["tokens"] == 3, [x.text() for x in v]
    assert any("l2g" in x.message for x in v)
    assert {x.index for x in v if "ordered before FINISH" in x.message} == {0, 1}
    b = ProgramBuilder(cfg)
    b.nop(Module.COMPUTE, pop_prev=True)  # waits for a push that never comes
    b.finish()
    report = check_portable(b.build())
    assert not report.portable and "DeadlockError" in report.errors["chisel"]
    assert any(x.rule == "tokens" and x.index == 0 for x in report.violations)


def test_sram_range_and_alu_subset(cfg, rng):
    prog, _, _ = _gemm_program(cfg, rng)
    insns = list(prog.insns)
    insns[2] = type(insns[2])(**{**insns[2].__dict__, "sram_base": cfg.inp_depth - 1})
    prog.insns = insns
    report = check_portable(prog)
    assert not report.portable and "SramRangeError" in report.errors["chisel"]
    assert report.counts["sram-range"] >= 1
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.alu(AluOp.SHR, imm=15, uop_bgn=0, uop_end=1)
    b.alu(AluOp.SHR, imm=-16, uop_bgn=0, uop_end=1)
    b.alu(AluOp.MUL, imm=3, uop_bgn=0, uop_end=1)
    b.finish()
    v, counts = check_rules(b.build())
    assert [x.index for x in v if x.rule == "alu-subset"] == [2, 3]


def test_happens_before_follows_tokens(cfg):
    b = ProgramBuilder(cfg)
    b.nop(Module.LOAD, push_next=True)  # 0
    b.nop(Module.STORE)  # 1: unordered with 0
    b.nop(Module.COMPUTE, pop_prev=True, push_next=True)  # 2: after 0
    b.nop(Module.STORE, pop_prev=True)  # 3: after 2, so after 0
    b.finish()
    hb = happens_before(b.build().insns)
    assert hb.before(0, 2) and hb.before(0, 3) and hb.before(1, 3)
    assert not hb.before(0, 1) and not hb.before(1, 0) and not hb.before(3, 2)
    assert hb.left == dict.fromkeys(hb.left, 0) and all(hb.reached)


PORTABLE_EXCEPT = {"alu_mul_imm", "alu_mul_tensor"}  # VTA's fsim-only MUL


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_programs_are_portable(name, cfg, rng):
    prog, _ = EXAMPLES[name](cfg, rng)
    report = check_portable(prog)
    assert report.dram_equal, report.summary()
    if name in PORTABLE_EXCEPT:
        assert {r for r, n in report.counts.items() if n} == {"alu-subset"}
    else:
        assert report.portable, report.summary()


def test_cli_portable(cfg, rng, tmp_path, capsys):
    from runtime.cli import main

    bad, good = tmp_path / "bad.vtaprog", tmp_path / "good.vtaprog"
    _ring(cfg, rng, reset_waits=False).save(bad)
    _ring(cfg, rng).save(good)
    assert main(["sim", "--portable", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "portable: NO" in out and "first divergence: instruction" in out and "[race]" in out
    assert main(["sim", "--portable", str(good)]) == 0
    assert "portable: yes" in capsys.readouterr().out
    assert main(["sim", "--out-semantics", "fsim", "--json", str(good)]) == 0


@pytest.mark.parametrize("ordered", [True, False])
def test_reading_back_stored_dram_needs_a_token(cfg, rng, ordered):
    """A program that reads back what it stored (two layers in one launch): the LOAD ACC_8BIT of
    the stored bytes must wait for the STORE (s2g) or it races it."""
    b = ProgramBuilder(cfg)
    a = b.buffer("a", data=rng.integers(-50, 50, (M, cfg.batch, cfg.block_out)).astype(np.int32))
    mid = b.buffer("mid", shape=(M, cfg.batch, cfg.block_out), dtype=np.int8)
    out = b.buffer("out", shape=(M, cfg.batch, cfg.block_out), dtype=np.int8)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    loop = dict(uop_bgn=0, uop_end=1, iter_in=M, dst_factor_in=1, src_factor_in=1)
    b.load(MemType.ACC, sram=0, buf=a, y=1, x=M)
    b.alu(AluOp.ADD, imm=1, push_next=True, **loop)
    b.store(0, mid, y=1, x=M, pop_prev=True, push_prev=True)
    b.load(MemType.ACC_8BIT, sram=0, buf=mid, y=1, x=M, pop_next=ordered)
    b.alu(AluOp.ADD, imm=1, push_next=True, **loop)
    b.store(0, out, y=1, x=M, pop_prev=True, push_prev=True)
    b.nop(Module.COMPUTE, pop_next=True, **({} if ordered else {"pop_prev": False}))
    if not ordered:  # the unpopped s2g token of the first store
        b.nop(Module.COMPUTE, pop_next=True)
    b.finish()
    v, counts = check_rules(b.build())
    dram = [x for x in v if x.rule == "race" and "DRAM bytes" in x.message]
    # unordered, the LOAD also overwrites the ACC rows the first STORE reads: an SRAM race too
    assert counts["race"] == (0 if ordered else 2) and len(dram) == (0 if ordered else 1)
    if dram:
        assert dram[0].index == 3 and dram[0].other == 4 and "ACC_8BIT LOAD" in dram[0].message


def test_token_counters_cannot_overflow_in_any_execution(cfg):
    """300 l2g tokens pushed by load NOPs before compute pops any: the load module may run all
    of them first, past the 255 an 8-bit Chisel counter holds (fsim's queues are unbounded)."""
    b = ProgramBuilder(cfg)
    for _ in range(300):
        b.nop(Module.LOAD, push_next=True)
    for _ in range(300):
        b.nop(Module.COMPUTE, pop_prev=True)
    b.finish()
    v, counts = check_rules(b.build())
    assert counts["tokens"] == 1 and "token #256 while 255" in v[0].message and v[0].index == 255
    b = ProgramBuilder(cfg)
    for _ in range(300):  # each push waits for the previous one's pop: at most 1 outstanding
        b.nop(Module.LOAD, push_next=True, pop_next=_ > 0)
        b.nop(Module.COMPUTE, pop_prev=True, push_prev=_ < 299)
    b.finish()
    assert check_rules(b.build())[1]["tokens"] == 0
