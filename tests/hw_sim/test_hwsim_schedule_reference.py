"""The event scheduler against an independent, deliberately naive evaluation of the timing
model's equations (docs/timing-model.md): every dispatch, start and end is recomputed by
fixed-point iteration over the formulas, with tokens matched statically (k-th pop <-> k-th push
in program order). Random programs with random token flags, shallow queues and small fetch
bursts; a program the reference cannot finish must make the simulator raise."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.disasm import TOKEN_OF_FLAG
from hw_sim.errors import DeadlockError, PendingAtFinishError
from hw_sim.isa import AluOp, FinishInsn, MemType, Module, Uop, insn_module
from hw_sim.simulator import simulate
from hw_sim.timing import fetch_arrival_offset, fetch_chunk
from tests.conftest import sweep_size


@pytest.fixture(autouse=True)
def _timing_programs_race(monkeypatch):
    """These random token patterns test scheduling, not data: they do not order every SRAM
    access, so the suite-wide race detector is off here."""
    monkeypatch.setenv("VTAC_CHECK_RACES", "0")


FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")


def reference_duration(insn, cfg) -> int:
    """An instruction's cycles from the table of docs/timing-model.md, written out again here
    (not hw_sim.timing) so that a wrong formula there cannot agree with itself."""
    from hw_sim.isa import AluInsn, GemmInsn, MemInsn
    from hw_sim.program import mem_elem_bytes

    if isinstance(insn, MemInsn):
        if insn.x_size == 0:
            return 1
        beats = -(-insn.x_size * mem_elem_bytes(cfg, insn.mem_type) // cfg.bus_bytes)
        bursts = -(-beats // cfg.MAX_BURST_BEATS)
        row = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        zeros = (insn.y_pad_0 + insn.y_pad_1) * row + insn.y_size * (row - insn.x_size)
        return 1 + insn.y_size * (bursts * cfg.DRAM_LATENCY + beats) + zeros
    if not isinstance(insn, GemmInsn | AluInsn):
        return 1  # FINISH
    n = insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_bgn)
    if isinstance(insn, GemmInsn):
        return max(1, n + cfg.GEMM_PIPELINE)
    # ALU: a tensor operand reads two ACC rows through one port
    return max(1, (n if insn.use_imm else 2 * n) + cfg.ALU_PIPELINE)


def reference_schedule(prog):
    """(dispatch, start, end, total) by fixed-point iteration; None where never resolved."""
    cfg, insns = prog.cfg, prog.insns
    n = len(insns)
    mods = [int(insn_module(i)) for i in insns]
    dur = [reference_duration(i, cfg) for i in insns]
    pushes: dict[str, list[int]] = {t: [] for t in ("l2g", "g2l", "g2s", "s2g")}
    pops_of: list[list[tuple[str, int]]] = [[] for _ in insns]
    npop = dict.fromkeys(pushes, 0)
    for i, insn in enumerate(insns):
        for flag in FLAGS:
            if getattr(insn, flag):
                tok = TOKEN_OF_FLAG[Module(mods[i])][flag]
                if flag.startswith("push"):
                    pushes[tok].append(i)
                else:
                    pops_of[i].append((tok, npop[tok]))
                    npop[tok] += 1
    queue_pos, qlists = [], {1: [], 2: [], 3: []}
    for i in range(n):
        queue_pos.append(len(qlists[mods[i]]))
        qlists[mods[i]].append(i)
    chunk = fetch_chunk(cfg)
    d, s, e = [None] * n, [None] * n, [None] * n
    changed = True
    while changed:
        changed = False
        for j in range(n):
            if d[j] is None:
                k, pos = divmod(j, chunk)
                if k == 0:
                    r = 0
                else:
                    last = d[k * chunk - 1]
                    if last is None:
                        continue
                    r = last + 1
                prev = d[j - 1] if j else -1
                if prev is None:
                    continue
                m, q = queue_pos[j], qlists[mods[j]]
                q_free = 0
                if m >= cfg.CMD_QUEUE_DEPTH:
                    head = s[q[m - cfg.CMD_QUEUE_DEPTH]]
                    if head is None:
                        continue
                    q_free = head + 1
                d[j] = max(r + fetch_arrival_offset(cfg, pos), prev + 1, q_free)
                changed = True
            if s[j] is None and d[j] is not None:
                m, q = queue_pos[j], qlists[mods[j]]
                e_prev = e[q[m - 1]] if m else 0
                if e_prev is None:
                    continue
                t = [e_prev, d[j] + 1]
                for tok, k in pops_of[j]:
                    if k >= len(pushes[tok]) or e[pushes[tok][k]] is None:
                        break
                    t.append(e[pushes[tok][k]] + cfg.TOKEN_LATENCY)
                else:
                    s[j] = max(t)
                    e[j] = s[j] + dur[j]
                    changed = True
    fin = [i for i, insn in enumerate(insns) if isinstance(insn, FinishInsn)]
    total = e[fin[0]] if fin and e[fin[0]] is not None else None
    return d, s, e, total


def random_program(cfg, rng, n):
    b = ProgramBuilder(cfg)
    x = b.buffer("x", shape=(8, cfg.batch, cfg.block_in), dtype="int8")
    a = b.buffer("a", shape=(8, cfg.batch, cfg.block_out), dtype="int32")
    o = b.buffer("o", shape=(8, cfg.batch, cfg.block_out), dtype="int8")
    b.load_uop(b.uop_kernel([Uop(0, 0, 0), Uop(1, 1, 0)]))
    balance = dict.fromkeys(("l2g", "g2l", "g2s", "s2g"), 0)
    for _ in range(n):
        mod = Module(int(rng.integers(1, 4)))
        flags = {}
        for flag, tok in TOKEN_OF_FLAG[mod].items():
            if tok is None or rng.random() > 0.35:
                continue
            if flag.startswith("pop"):
                if balance[tok] <= 0:
                    continue
                balance[tok] -= 1
            else:
                balance[tok] += 1
            flags[flag] = True
        kind = int(rng.integers(0, 3))
        if mod == Module.LOAD:
            if kind == 0:
                b.nop(mod, **flags)
            else:
                b.load(MemType.INP, sram=0, buf=x, y=int(rng.integers(1, 3)),
                       x=int(rng.integers(1, 4)), **flags)  # fmt: skip
        elif mod == Module.COMPUTE:
            if kind == 0:
                b.nop(mod, **flags)
            elif kind == 1:
                b.gemm(uop_bgn=0, uop_end=2, iter_out=int(rng.integers(1, 20)), **flags)
            elif rng.random() < 0.5:
                b.alu(AluOp.ADD, imm=1, uop_bgn=0, uop_end=2, iter_in=int(rng.integers(1, 9)),
                      **flags)  # fmt: skip
            else:  # tensor operand: two cycles per micro-op
                b.alu(AluOp.MAX, uop_bgn=0, uop_end=2, iter_in=int(rng.integers(1, 9)), **flags)
        elif kind == 0:
            b.nop(mod, **flags)
        else:
            b.store(0, o, y=1, x=int(rng.integers(1, 3)), **flags)
        if rng.random() < 0.05:
            b.load(MemType.ACC, sram=0, buf=a, y=2, x=2)
    b.finish()
    return b.build()


@pytest.mark.parametrize("depth, burst", [(2, 1), (4, 8), (None, None)])
def test_scheduler_matches_reference(cfg, rng, depth, burst):
    changes = {}
    if depth is not None:
        changes = {"CMD_QUEUE_DEPTH": depth, "MAX_BURST_BEATS": burst}
    cfg = HwConfig.from_dict(cfg.to_dict() | changes, name=cfg.name)
    finished = 0
    for _ in range(sweep_size(40)):
        prog = random_program(cfg, rng, int(rng.integers(3, 40)))
        d, s, e, total = reference_schedule(prog)
        complete = total is not None and all(v is not None and v <= total for v in e)
        if not complete:
            with pytest.raises((DeadlockError, PendingAtFinishError)):
                simulate(prog)
            continue
        result = simulate(prog)
        assert result.schedule.dispatch == d
        assert result.schedule.start == s
        assert result.schedule.end == e
        assert result.stats.total_cycles == total
        finished += 1
    assert finished >= sweep_size(40) // 4, "too few random programs ran to FINISH"


def test_reference_agrees_on_examples(cfg, rng):
    from hw_sim.examples import EXAMPLES

    for name in ("gemm_vt2", "blocked_gemm_vt2", "padded_load_all"):
        prog, _ = EXAMPLES[name](cfg, rng)
        d, s, e, total = reference_schedule(prog)
        result = simulate(prog)
        assert (result.schedule.start, result.schedule.end) == (s, e), name
        assert result.stats.total_cycles == total
        assert np.all(np.asarray(result.schedule.dispatch) == np.asarray(d))
