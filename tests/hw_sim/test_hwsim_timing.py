"""The timing model on tiny programs, with every expected cycle worked out by hand from
docs/timing-model.md (the numbers in the comments are the derivation)."""

from __future__ import annotations

from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig, load_config
from hw_sim.isa import AluInsn, AluOp, GemmInsn, MemInsn, MemType, Module, Opcode, Uop
from hw_sim.simulator import simulate
from hw_sim.timing import fetch_chunk, insn_timing


def _cfg(**changes) -> HwConfig:
    base = load_config("default").to_dict()
    base.update(changes)
    return HwConfig.from_dict(base, name="timing-test")


def _modules(stats):
    return {m: {k: v for k, v in c.items()} for m, c in stats.modules.items()}


def test_finish_only():
    # B = 8 bytes, DRAM_LATENCY 16: a0 = 0 + 16 + ceil(16/8) = 18 = d0; compute sees it at 19,
    # FINISH runs 19..19, ends at 20 = total.
    cfg = load_config("default")
    b = ProgramBuilder(cfg)
    b.finish()
    r = simulate(b.build())
    assert r.stats.total_cycles == 20
    assert (r.schedule.arrive, r.schedule.dispatch) == ([18], [18])
    assert (r.schedule.start, r.schedule.end) == ([19], [20])
    m = _modules(r.stats)
    assert m["fetch"] == {"busy": 1, "memory": 18, "queue_full": 0, "idle": 1, "insns": 1}
    assert m["compute"] == {"busy": 1, "memory": 0, "token": 0, "empty": 19, "insns": 1}
    assert m["load"]["empty"] == m["store"]["empty"] == 20


def test_load_token_gemm():
    """0 LOAD UOP (compute), 1 LOAD INP push l2g (load), 2 GEMM pop l2g, 3 FINISH."""
    cfg = load_config("default")
    b = ProgramBuilder(cfg)
    x = b.buffer("x", shape=(8, cfg.batch, cfg.block_in), dtype="int8")
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.load(MemType.INP, sram=0, buf=x, y=2, x=4, push_next=True)
    b.gemm(uop_bgn=0, uop_end=1, pop_prev=True)
    b.finish()
    r = simulate(b.build())
    s = r.schedule
    # arrivals 16 + 2*(i+1); each dispatched on arrival
    assert s.arrive == [18, 20, 22, 24] and s.dispatch == [18, 20, 22, 24]
    # LOAD UOP: W = ceil(4/8) = 1, R = 1: D = 1 + (16 + 1) = 18 (16 memory); starts 19, ends 37
    # LOAD INP: 4 elems * 16 B = 64 B: W = 8, R = 1; y=2: D = 1 + 2*(16+8) = 49; 21 -> 70
    # GEMM: token available at 70 + TOKEN_LATENCY 1 = 71; D = 1 + 4 = 5; 71 -> 76
    # FINISH: 76 -> 77
    assert s.start == [19, 21, 71, 76] and s.end == [37, 70, 76, 77]
    st = r.stats
    assert st.total_cycles == 77
    m = _modules(st)
    # fetch gaps: 18 before d0, then 1 before each later dispatch; idle after d3=24: 77-25
    assert m["fetch"] == {"busy": 4, "memory": 21, "queue_full": 0, "idle": 52, "insns": 4}
    assert m["load"] == {"busy": 17, "memory": 32, "token": 0, "empty": 28, "insns": 1}
    # compute busy: 2 (uop load) + 5 + 1; memory 16; token: GEMM waits 71 - 37 = 34
    assert m["compute"] == {"busy": 8, "memory": 16, "token": 34, "empty": 19, "insns": 3}
    assert m["store"]["empty"] == 77
    assert st.gemm_uops == 1 and st.alu_uops == 0
    assert st.dram_bytes_read["UOP"] == 4 and st.dram_bytes_read["INP"] == 2 * 4 * 16


def test_queue_full_blocks_fetch():
    """CMD_QUEUE_DEPTH = 1, a 1024-bit bus (every instruction arrives at 16 + 1 = 17)."""
    cfg = _cfg(CMD_QUEUE_DEPTH=1, LOG_BUS_WIDTH=10)
    b = ProgramBuilder(cfg)
    for _ in range(3):
        b.nop(Module.COMPUTE)
    b.finish()
    r = simulate(b.build())
    s = r.schedule
    # d0 = 17, s0 = 18; d1 = max(17, 18, s0 + 1 = 19) = 19, s1 = 20; d2 = 21, s2 = 22;
    # d3 = 23, s3 = 24, total 25
    assert s.arrive == [17] * 4
    assert s.dispatch == [17, 19, 21, 23] and s.start == [18, 20, 22, 24]
    assert r.stats.total_cycles == 25
    m = _modules(r.stats)
    assert m["fetch"] == {"busy": 4, "memory": 17, "queue_full": 3, "idle": 1, "insns": 4}
    assert m["compute"] == {"busy": 4, "memory": 0, "token": 0, "empty": 21, "insns": 4}


def test_fetch_chunks_without_read_ahead():
    """MAX_BURST_BEATS = 2 on an 8-byte bus: F = 1 instruction per burst; the next burst is
    requested the cycle after the previous chunk's last dispatch."""
    cfg = _cfg(MAX_BURST_BEATS=2)
    assert fetch_chunk(cfg) == 1
    b = ProgramBuilder(cfg)
    b.nop(Module.COMPUTE)
    b.nop(Module.COMPUTE)
    b.finish()
    r = simulate(b.build())
    # r0 = 0: a0 = 18; r1 = 19: a1 = 37; r2 = 38: a2 = 56
    assert r.schedule.dispatch == [18, 37, 56]
    assert r.schedule.start == [19, 38, 57]
    assert r.stats.total_cycles == 58
    assert r.stats.modules["fetch"] == {
        "busy": 3, "memory": 54, "queue_full": 0, "idle": 1, "insns": 3,
    }  # fmt: skip


def test_dma_bursts_and_padding():
    cfg = _cfg(MAX_BURST_BEATS=16)
    # WGT row of 4 elements = 1024 B = 128 beats = 8 bursts of 16: per row 8*16 + 128 = 256
    t = insn_timing(MemInsn(mem_type=MemType.WGT, y_size=2, x_size=4, x_stride=4), cfg)
    assert (t.duration, t.memory) == (1 + 2 * 256, 2 * 8 * 16)
    # ACC 3x5 with all pads 1: W = ceil(5*64/8) = 40 beats, R = ceil(40/16) = 3;
    # P = (1+1)*(1+5+1) + 3*(1+1) = 20; D = 1 + 3*(3*16 + 40) + 20 = 285
    t = insn_timing(
        MemInsn(mem_type=MemType.ACC, y_size=3, x_size=5, x_stride=5,
                y_pad_0=1, y_pad_1=1, x_pad_0=1, x_pad_1=1), cfg,
    )  # fmt: skip
    assert (t.duration, t.memory) == (285, 3 * 3 * 16)
    # STORE uses the same formula (OUT elements, 16 B): x=3 -> 6 beats
    t = insn_timing(MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT, y_size=1, x_size=3), cfg)
    assert (t.duration, t.memory) == (1 + 16 + 6, 16)
    assert insn_timing(MemInsn(mem_type=MemType.INP, y_size=5, x_size=0), cfg).duration == 1


def test_compute_durations():
    cfg = load_config("default")  # GEMM_PIPELINE 4, ALU_PIPELINE 3
    loop = dict(uop_bgn=2, uop_end=5, iter_out=2, iter_in=3)  # n = 18
    assert insn_timing(GemmInsn(**loop), cfg).duration == 18 + 4
    assert insn_timing(GemmInsn(reset=True, **loop), cfg).duration == 18 + 4
    assert insn_timing(AluInsn(use_imm=True, alu_op=AluOp.ADD, **loop), cfg).duration == 18 + 3
    assert insn_timing(AluInsn(alu_op=AluOp.ADD, **loop), cfg).duration == 36 + 3
    zero = _cfg(GEMM_PIPELINE=0)
    assert insn_timing(GemmInsn(uop_bgn=0, uop_end=0), zero).duration == 1


def test_token_latency_and_two_pops():
    """A compute NOP popping l2g and s2g starts when the later token is available."""
    cfg = _cfg(TOKEN_LATENCY=5)
    b = ProgramBuilder(cfg)
    b.nop(Module.LOAD, push_next=True)  # 0: load, d=18, runs 19..19, push l2g at 20 -> 25
    b.nop(Module.STORE, push_prev=True)  # 1: store, d=20, runs 21..21, push s2g at 22 -> 27
    b.nop(Module.COMPUTE, pop_prev=True, pop_next=True)  # 2: d=22; start max(23, 25, 27) = 27
    b.finish()  # 3: d=24; starts 28
    r = simulate(b.build())
    assert r.schedule.start == [19, 21, 27, 28]
    assert r.stats.total_cycles == 29
    assert r.stats.modules["compute"]["token"] == 27 - 23


def test_precomputed_model_equals_formulas(cfg, rng):
    """The simulator's precomputed TimingModel gives the same durations as the formulas."""
    from hw_sim.simulator import _prepare
    from hw_sim.timing import TimingModel

    tm = TimingModel(cfg)
    insns = []
    for _ in range(200):
        pads = [int(v) for v in rng.integers(0, 3, 4)] if rng.random() < 0.5 else [0] * 4
        insns.append(MemInsn(opcode=Opcode.LOAD, mem_type=MemType(int(rng.choice([1, 2, 3, 5]))),
                             y_size=int(rng.integers(0, 9)), x_size=int(rng.integers(0, 40)),
                             x_stride=40, y_pad_0=pads[0], y_pad_1=pads[1], x_pad_0=pads[2],
                             x_pad_1=pads[3]))  # fmt: skip
        loop = dict(uop_bgn=int(rng.integers(0, 5)), uop_end=int(rng.integers(5, 9)),
                    iter_out=int(rng.integers(0, 4)), iter_in=int(rng.integers(0, 4)))  # fmt: skip
        insns.append(GemmInsn(reset=bool(rng.random() < 0.3), **loop))
        insns.append(AluInsn(use_imm=bool(rng.random() < 0.5), **loop))
    prep = _prepare(insns, cfg)
    for insn, d, m in zip(insns, prep.duration, prep.memory, strict=True):
        t = insn_timing(insn, cfg)
        assert (d, m) == (t.duration, t.memory), insn
    assert tm.dma(insns[0]) == (
        insn_timing(insns[0], cfg).duration,
        insn_timing(insns[0], cfg).memory,
    )
