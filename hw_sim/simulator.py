"""The event scheduler: start and end cycle of every instruction, by the formulas of
docs/timing-model.md, and its data work through `hw_sim.functional`.

No Python runs per cycle. The scheduler repeatedly
1. lets fetch dispatch every instruction it can (`d_j = max(a_j, d_{j-1}+1, q_free)`; fetch stops
   at an instruction whose queue is full and whose freeing start cycle is not known yet);
2. computes, for each module whose next instruction is dispatched and whose tokens have all been
   pushed, its start `s = max(e_prev, d+1, t_pop)`;
3. executes the candidate with the smallest start (ties: load, compute, store) — so data work runs
   in start-cycle order, as in hardware — and records its pushes, available at `e + TOKEN_LATENCY`.
When no module can start and FINISH has not run, the program is deadlocked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from hw_sim import functional
from hw_sim.blas import single_threaded_blas
from hw_sim.config import HwConfig
from hw_sim.disasm import TOKEN_OF_FLAG, disasm, listing_line
from hw_sim.errors import (
    DeadlockError,
    InvalidInstructionError,
    NoFinishError,
    PendingAtFinishError,
    TokenOverflowError,
    WallClockTimeoutError,
    WatchdogError,
)
from hw_sim.isa import AluInsn, FinishInsn, GemmInsn, Insn, MemInsn, MemType, Module, Opcode
from hw_sim.program import Program
from hw_sim.stats import MODULES, TOKEN_QUEUES, RunStats
from hw_sim.stream_checks import check_stream
from hw_sim.timing import TimingModel, fetch_arrival_offset, fetch_chunk

DEFAULT_MAX_CYCLES = 1_000_000_000  # 10 s of accelerator time at 100 MHz
_TOKEN_ID = {name: i for i, name in enumerate(TOKEN_QUEUES)}
_QUEUES = (Module.LOAD, Module.COMPUTE, Module.STORE)
_K_LOAD, _K_STORE, _K_GEMM, _K_ALU, _K_FINISH = range(5)
_LOAD_TYPES = (MemType.INP, MemType.WGT)  # dispatched to the load module
# token counter id -> the module that pops it
_TOKEN_POPPER = {
    _TOKEN_ID[tok]: int(mod)
    for mod, flags in TOKEN_OF_FLAG.items()
    for flag, tok in flags.items()
    if tok and flag.startswith("pop")
}


@dataclass
class Schedule:
    """Per-instruction cycle numbers of a run (index = instruction index; -1 = never)."""

    module: list[int]
    arrive: list[int]
    dispatch: list[int]
    start: list[int]
    end: list[int]
    memory: list[int]  # DRAM-latency cycles inside the instruction


@dataclass
class SimResult:
    stats: RunStats
    dram: np.ndarray
    sram: functional.SramState
    schedule: Schedule
    insns: list[Insn] = field(repr=False, default_factory=list)


@dataclass
class _Prepared:
    """What the scheduler needs per instruction, computed once before the run."""

    module: list[int]
    kind: list[int]
    duration: list[int]
    memory: list[int]
    pops: list[tuple[int, ...]]
    pushes: list[tuple[int, ...]]
    read_type: list[str | None]
    nbytes: list[int]
    n_uops: list[int]


_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")
# (module, flag) -> token counter id, or -1 where the module has no such queue
_FLAG_TOKEN = {
    (int(mod), flag): (_TOKEN_ID[tok] if tok else -1)
    for mod, flags in TOKEN_OF_FLAG.items()
    for flag, tok in flags.items()
}


def _prepare(insns: list[Insn], cfg: HwConfig) -> _Prepared:
    """Module, duration, token ids and counters of every instruction (one pass, no data work)."""
    p = _Prepared([], [], [], [], [], [], [], [], [])
    tm = TimingModel(cfg)
    eb = tm.elem_bytes
    store_op, load_mod, comp_mod, store_mod = Opcode.STORE, 1, 2, 3
    for idx, insn in enumerate(insns):
        cls = type(insn)
        memory, read_type, nbytes, n_uops = 0, None, 0, 0
        if cls is MemInsn:
            if insn.opcode == store_op:
                kind, mod = _K_STORE, store_mod
            else:
                kind = _K_LOAD
                mod = load_mod if insn.mem_type in _LOAD_TYPES else comp_mod
            duration, memory = tm.dma(insn)
            if insn.x_size:
                nbytes = insn.x_size * insn.y_size * eb[insn.mem_type]
                if kind == _K_LOAD:
                    read_type = insn.mem_type.name
        elif cls is GemmInsn:
            kind, mod, duration = _K_GEMM, comp_mod, tm.gemm(insn)
            if insn.uop_end < insn.uop_bgn:
                raise InvalidInstructionError(
                    idx, disasm(insn), f"uop_end={insn.uop_end} < uop_bgn={insn.uop_bgn}"
                )
            n_uops = 0 if insn.reset else insn.n_uops
        elif cls is AluInsn:
            kind, mod, duration = _K_ALU, comp_mod, tm.alu(insn)
            if insn.uop_end < insn.uop_bgn:
                raise InvalidInstructionError(
                    idx, disasm(insn), f"uop_end={insn.uop_end} < uop_bgn={insn.uop_bgn}"
                )
            n_uops = insn.n_uops
        elif cls is FinishInsn:
            kind, mod, duration = _K_FINISH, comp_mod, 1
        else:
            raise InvalidInstructionError(idx, repr(insn), "not an instruction")
        pops, pushes = (), ()
        if insn.pop_prev or insn.pop_next or insn.push_prev or insn.push_next:
            pops, pushes = [], []
            for flag in _FLAGS:
                if getattr(insn, flag):
                    tok = _FLAG_TOKEN[mod, flag]
                    if tok < 0:
                        raise InvalidInstructionError(
                            idx,
                            disasm(insn),
                            f"the {Module(mod).name.lower()} module has no "
                            f"{flag} queue (this flag must be 0)",
                        )
                    (pops if flag[1] == "o" else pushes).append(tok)
            pops, pushes = tuple(pops), tuple(pushes)
        p.module.append(mod)
        p.kind.append(kind)
        p.duration.append(duration)
        p.memory.append(memory)
        p.pops.append(pops)
        p.pushes.append(pushes)
        p.read_type.append(read_type)
        p.nbytes.append(nbytes)
        p.n_uops.append(n_uops)
    return p


@cache
def _arrival_offsets(cfg: HwConfig, count: int) -> list[int]:
    """`fetch_arrival_offset` of positions 0..count-1 in a fetch chunk."""
    return [fetch_arrival_offset(cfg, i) for i in range(count)]


def _prepared(program: Program) -> _Prepared:
    """`_prepare` of a program, cached on the program object while its instruction list holds
    the same instruction objects (instructions are immutable records)."""
    cached = program.__dict__.get("_hw_sim_prepared")
    insns = program.insns
    if cached is not None:
        cfg, snapshot, prep = cached
        if (
            cfg is program.cfg
            and len(snapshot) == len(insns)
            and all(a is b for a, b in zip(snapshot, insns, strict=True))
        ):
            return prep
    prep = _prepare(insns, program.cfg)
    program.__dict__["_hw_sim_prepared"] = (program.cfg, list(insns), prep)
    return prep


class Simulator:
    """Runs one program on one DRAM image. Use `simulate()` unless you need the pieces."""

    def __init__(
        self,
        program: Program,
        dram: np.ndarray | None = None,
        max_cycles: int | None = None,
        sram: functional.SramState | None = None,
        out_semantics: str = "chisel",
        timeout: float | None = None,
    ):
        self.program = program
        self.cfg = program.cfg
        self.insns = program.insns
        self.dram = program.dram.copy() if dram is None else dram
        self.sram = sram if sram is not None else functional.SramState(self.cfg, out_semantics)
        self.max_cycles = DEFAULT_MAX_CYCLES if max_cycles is None else int(max_cycles)
        self.timeout = timeout  # wall-clock seconds, None = no limit

    # ------------------------------------------------------------------------------------------
    def run(self) -> SimResult:
        cfg, insns = self.cfg, self.insns
        n = len(insns)
        prep = _prepared(self.program)
        mod, dur, pops_of, pushes_of = prep.module, prep.duration, prep.pops, prep.pushes
        kind = prep.kind
        chunk = fetch_chunk(cfg)
        offsets = _arrival_offsets(cfg, min(chunk, max(n, 1)))
        depth, tok_lat, max_cycles = cfg.CMD_QUEUE_DEPTH, cfg.TOKEN_LATENCY, self.max_cycles

        arrive, disp, start, end = [-1] * n, [-1] * n, [-1] * n, [-1] * n
        queue: dict[int, list[int]] = {int(q): [] for q in _QUEUES}  # dispatched insn indices
        qstart: dict[int, list[int]] = {int(q): [] for q in _QUEUES}
        nxt = dict.fromkeys(queue, 0)
        e_prev = dict.fromkeys(queue, 0)
        push_avail: list[list[int]] = [[] for _ in TOKEN_QUEUES]
        pop_times: list[list[int]] = [[] for _ in TOKEN_QUEUES]
        push_src: list[list[int]] = [[] for _ in TOKEN_QUEUES]

        sram, dram = self.sram, self.dram
        execs = {
            _K_LOAD: functional.load,
            _K_STORE: functional.store,
            _K_GEMM: functional.gemm,
            _K_ALU: functional.alu,
        }
        j, d_prev, read_at = 0, -1, 0
        finished, total = False, 0
        order = (int(Module.LOAD), int(Module.COMPUTE), int(Module.STORE))
        # The module popping each token counter: its candidate changes when the counter is pushed.
        popper = [_TOKEN_POPPER[c] for c in range(len(TOKEN_QUEUES))]
        cand = dict.fromkeys(order, -1)  # each module's earliest start, -1 = cannot start yet
        dirty = set(order)  # modules whose candidate must be recomputed
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            # 1. fetch dispatches as far as it can
            while j < n:
                pos = j % chunk
                if pos == 0:
                    read_at = d_prev + 1 if j else 0
                q = mod[j]
                m = len(queue[q])
                q_free = 0
                if m >= depth:
                    started = qstart[q]
                    if m - depth >= len(started):
                        break  # queue full; freed when its head starts (not known yet)
                    q_free = started[m - depth] + 1
                a = read_at + offsets[pos]
                d = a if a > d_prev + 1 else d_prev + 1
                if q_free > d:
                    d = q_free
                arrive[j], disp[j] = a, d
                queue[q].append(j)
                if nxt[q] == m:  # the new instruction is its module's next one
                    dirty.add(q)
                d_prev = d
                j += 1
            # 2. the module that can start earliest
            for q in dirty:
                m = nxt[q]
                qq = queue[q]
                if m >= len(qq):
                    cand[q] = -1
                    continue
                k = qq[m]
                t = disp[k] + 1
                if e_prev[q] > t:
                    t = e_prev[q]
                for c in pops_of[k]:
                    avail = push_avail[c]
                    npop = len(pop_times[c])
                    if npop >= len(avail):
                        t = -1
                        break
                    if avail[npop] > t:
                        t = avail[npop]
                cand[q] = t
            dirty.clear()
            best_q, best_t = -1, 0
            for q in order:
                t = cand[q]
                if t >= 0 and (best_q < 0 or t < best_t):
                    best_q, best_t = q, t
            if best_q < 0 or (finished and best_t >= total):
                break
            # 3. execute it
            q, s = best_q, best_t
            k = queue[q][nxt[q]]
            e = s + dur[k]
            if e > max_cycles:
                raise WatchdogError(
                    f"watchdog: instruction {k} ({disasm(insns[k])}) on {Module(q).name.lower()} "
                    f"would run until cycle {e} > max_cycles={max_cycles}",
                    cycle=e,
                    index=k,
                )
            if deadline is not None and time.monotonic() > deadline:
                raise self._timed_out(k, s)
            kk = kind[k]
            if kk == _K_LOAD or kk == _K_STORE:
                execs[kk](sram, dram, insns[k], functional.Where(k, insns[k]))
            elif kk != _K_FINISH:
                execs[kk](sram, insns[k], functional.Where(k, insns[k]))
            start[k], end[k] = s, e
            qstart[q].append(s)
            nxt[q] += 1
            e_prev[q] = e
            for c in pops_of[k]:
                pop_times[c].append(s)
            dirty.add(q)
            for c in pushes_of[k]:
                push_avail[c].append(e + tok_lat)
                push_src[c].append(k)
                dirty.add(popper[c])
            if kk == _K_FINISH and not finished:
                finished, total = True, e

        executed = sum(nxt.values())
        if not finished:
            if executed == n:
                raise NoFinishError(
                    f"all {n} instructions ran but none was FINISH: the run never ends"
                )
            raise self._deadlock(j, queue, nxt, push_avail, pop_times, pops_of, mod)
        pending = [i for i in range(n) if end[i] < 0 or end[i] > total]
        if pending:
            lines = []
            for i in pending[:10]:
                state = (
                    f"still running (cycles {start[i]}..{end[i] - 1})"
                    if end[i] >= 0
                    else ("not started" if disp[i] >= 0 else "not dispatched")
                )
                lines.append(f"  {listing_line(i, insns[i])}  -- {state}")
            more = f"\n  ... and {len(pending) - 10} more" if len(pending) > 10 else ""
            raise PendingAtFinishError(
                f"FINISH ended the run at cycle {total} with {len(pending)} instruction(s) "
                f"pending:\n"
                + "\n".join(lines)
                + more
                + "\ntokens left: "
                + _token_text(push_avail, pop_times),
                pending,
            )
        self._check_token_overflow(push_avail, pop_times, push_src)
        sched = Schedule(mod, arrive, disp, start, end, prep.memory)
        stats = _stats(cfg, prep, sched, total, push_avail, pop_times)
        return SimResult(stats, dram, sram, sched, insns)

    def _timed_out(self, k: int, cycle: int) -> WallClockTimeoutError:
        return WallClockTimeoutError(
            f"timeout: the wall-clock limit of {self.timeout:g} s (timeout) passed before "
            f"instruction {k} ({disasm(self.insns[k])}) at cycle {cycle}",
            seconds=self.timeout,
            index=k,
            cycle=cycle,
        )

    # ------------------------------------------------------------------------------------------
    def _deadlock(self, j, queue, nxt, push_avail, pop_times, pops_of, mod) -> DeadlockError:
        insns, n = self.insns, len(self.insns)
        blocked: dict[str, str] = {}
        for q in _QUEUES:
            qi = int(q)
            m = nxt[qi]
            if m < len(queue[qi]):
                k = queue[qi][m]
                missing = []
                for c in pops_of[k]:
                    npop, npush = len(pop_times[c]), len(push_avail[c])
                    if npop >= npush:
                        missing.append(
                            f"a {TOKEN_QUEUES[c]} token (needs push #{npop + 1}, "
                            f"{npush} pushed so far)"
                        )
                blocked[q.name.lower()] = (
                    f"instruction {k} ({disasm(insns[k])}) waits for " + " and ".join(missing)
                )
            elif any(mod[i] == qi for i in range(j, n)):
                nxt_i = next(i for i in range(j, n) if mod[i] == qi)
                blocked[q.name.lower()] = (
                    f"idle: its next instruction {nxt_i} has not been dispatched"
                )
            else:
                blocked[q.name.lower()] = "done (no instructions left)"
        if j < n:
            q = Module(mod[j])
            blocked["fetch"] = (
                f"instruction {j} ({disasm(insns[j])}) cannot be dispatched: the "
                f"{q.name.lower()} queue is full ({self.cfg.CMD_QUEUE_DEPTH} entries)"
            )
        else:
            blocked["fetch"] = "done (every instruction dispatched)"
        tokens = {
            name: len(push_avail[c]) - len(pop_times[c]) for c, name in enumerate(TOKEN_QUEUES)
        }
        lines = [f"  {name}: {why}" for name, why in blocked.items()]
        return DeadlockError(
            "deadlock: no module can progress and FINISH has not run\n"
            + "\n".join(lines)
            + "\ntokens (pushed, not popped): "
            + ", ".join(f"{k}={v}" for k, v in tokens.items()),
            blocked,
            tokens,
        )

    def _check_token_overflow(self, push_avail, pop_times, push_src) -> None:
        limit = self.cfg.token_max
        for c, name in enumerate(TOKEN_QUEUES):
            if len(push_avail[c]) <= limit:
                continue
            pushes = np.asarray(push_avail[c])
            pops = np.asarray(pop_times[c])
            outstanding = np.arange(1, len(pushes) + 1) - np.searchsorted(
                pops, pushes, side="right"
            )
            if outstanding.max() > limit:
                k = int(np.argmax(outstanding > limit))
                i = push_src[c][k]
                raise TokenOverflowError(
                    f"token counter {name} overflows: instruction {i} ({disasm(self.insns[i])}) "
                    f"pushes token #{k + 1} while {int(outstanding[k]) - 1} are outstanding "
                    f"(counters hold at most {limit})"
                )


def _token_text(push_avail, pop_times) -> str:
    return ", ".join(
        f"{name}={len(push_avail[c]) - len(pop_times[c])}" for c, name in enumerate(TOKEN_QUEUES)
    )


def _stats(cfg, prep: _Prepared, sched: Schedule, total: int, push_avail, pop_times) -> RunStats:
    """Classify every cycle of every module (docs/timing-model.md, "Counters")."""
    st = RunStats(total_cycles=total)
    mod = np.asarray(sched.module)
    disp = np.asarray(sched.dispatch, dtype=np.int64)
    arr = np.asarray(sched.arrive, dtype=np.int64)
    start = np.asarray(sched.start, dtype=np.int64)
    end = np.asarray(sched.end, dtype=np.int64)
    dur = np.asarray(prep.duration, dtype=np.int64)
    mem = np.asarray(prep.memory, dtype=np.int64)
    n = len(mod)
    # fetch
    prev_d = np.concatenate(([-1], disp[:-1]))
    memory = np.maximum(0, arr - prev_d - 1)
    queue_full = disp - np.maximum(arr, prev_d + 1)
    f = st.modules["fetch"]
    f["busy"] = n
    f["memory"] = int(memory.sum())
    f["queue_full"] = int(queue_full.sum())
    f["idle"] = total - (int(disp[-1]) + 1 if n else 0)
    f["insns"] = n
    for q in _QUEUES:
        sel = mod == int(q)
        s, e, d = start[sel], end[sel], disp[sel]
        c = st.modules[MODULES[int(q)]]
        c["insns"] = int(sel.sum())
        if not len(s):
            c["empty"] = total
            continue
        e_prev = np.concatenate(([0], e[:-1]))
        c["memory"] = int(mem[sel].sum())
        c["busy"] = int(dur[sel].sum()) - c["memory"]
        c["token"] = int((s - np.maximum(e_prev, d + 1)).clip(min=0).sum())
        c["empty"] = int((np.minimum(s, d + 1) - e_prev).clip(min=0).sum()) + total - int(e[-1])
    for rt, nb in zip(prep.read_type, prep.nbytes, strict=True):
        if rt is not None:
            st.dram_bytes_read[rt] += nb
    st.dram_bytes_written = sum(
        nb for k, nb in zip(prep.kind, prep.nbytes, strict=True) if k == _K_STORE
    )
    st.gemm_uops = sum(u for k, u in zip(prep.kind, prep.n_uops, strict=True) if k == _K_GEMM)
    st.alu_uops = sum(u for k, u in zip(prep.kind, prep.n_uops, strict=True) if k == _K_ALU)
    st.tokens_left = {
        name: len(push_avail[c]) - len(pop_times[c]) for c, name in enumerate(TOKEN_QUEUES)
    }
    return st


def simulate(
    program: Program,
    dram: np.ndarray | None = None,
    max_cycles: int | None = None,
    out_semantics: str = "chisel",
    timeout: float | None = None,
    check_races: bool | None = None,
) -> SimResult:
    """Run `program` to FINISH. `dram` (uint8, updated in place) defaults to a copy of the
    program's image. `out_semantics` picks one of VTA's three OUT-buffer behaviours
    (`functional.OUT_SEMANTICS`: chisel, the RTL's and the default; hls; fsim); timing is the
    same under all three. The stream is checked first (`hw_sim.stream_checks`: invalid
    instructions and out-of-range indices, in program order). `max_cycles` is the cycle
    watchdog (`WatchdogError`), `timeout` a wall-clock limit in seconds
    (`WallClockTimeoutError`). `check_races` (default: the environment's `VTAC_CHECK_RACES=1`)
    raises `hw_sim.races.RaceError` after the run if SRAM accesses of different modules are not
    ordered by tokens. Raises a `hw_sim.errors.SimError` subclass on any fault."""
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    check_stream(program, program.dram if dram is None else dram)  # same faults as the RTL's
    if check_races is None:
        from hw_sim.races import races_checked_by_default

        check_races = races_checked_by_default()
    initial = (program.dram if dram is None else dram).copy() if check_races else None
    with single_threaded_blas():
        result = Simulator(
            program, dram, max_cycles, out_semantics=out_semantics, timeout=timeout
        ).run()
    if check_races:
        from hw_sim.races import find_races, race_error

        races = find_races(program, result.schedule.start, initial)
        if races:
            raise race_error(program, races)
    return result


def cycle_bound(program: Program) -> int:
    """An upper bound on the cycles of any run of `program` that does not deadlock: every
    instruction's duration plus, per instruction, a token's latency, a fetch read and the
    dispatch/decode cycles, as if nothing overlapped. The RTL's default watchdog is derived
    from it (the RTL simulates ~0.4 M cycles/s: 10**9 cycles would be a 45-minute hang)."""
    prep = _prepared(program)
    cfg = program.cfg
    per_insn = cfg.TOKEN_LATENCY + cfg.DRAM_LATENCY + 4 + -(-cfg.insn_bytes // cfg.bus_bytes)
    return sum(prep.duration) + len(program.insns) * per_insn
