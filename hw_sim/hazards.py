"""The portability rules of VTA's reference, checked on a program without running it.

A program is portable when every VTA implementation (Chisel, HLS, VTA's functional simulator)
computes the same DRAM from it, whatever its timing. The rules (`RULES`) need no cycle numbers:
the order that matters is the one dependency tokens impose, which is the same on every
implementation. That order is a *happens-before* relation: each module runs its queue in order,
and the k-th pop of a token counter waits for the k-th push of it (each counter has one pushing
and one popping module). `happens_before` gives every instruction a vector clock — how many
instructions of each module finished before it started — and the SRAM rules compare clocks:

* a row is *ordered* between writer W and reader R when W happens before R; two instructions of
  different modules that touch the same row (one writing) and are ordered neither way race;
* the last writer of a stored row, among those that happen before the STORE, must be a GEMM
  (not a reset) or ALU micro-op: Chisel stores OUT, which a reset and LOAD ACC leave alone;
  HLS's reset writes OUT; fsim stores the low bits of ACC.

Micro-op row sets are exact (the loops are expanded, vectorized); the micro-op SRAM is replayed
from the program's initial DRAM image in compute order (its only reader and writer).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from hw_sim.config import TOKEN_COUNTER_WIDTH
from hw_sim.disasm import TOKEN_OF_FLAG, disasm
from hw_sim.isa import (
    AluInsn,
    AluOp,
    FinishInsn,
    GemmInsn,
    Insn,
    MemInsn,
    MemType,
    Module,
    Opcode,
    decode_uops,
    insn_module,
)
from hw_sim.program import Program, mem_elem_bytes

RULES: dict[str, str] = {
    "store-source": "every stored row was last written by a GEMM (not a reset) or an ALU "
    "micro-op, so Chisel (OUT), HLS (reset writes OUT) and fsim (STORE reads ACC) store the "
    "same bytes; never by LOAD ACC or a reset, and never unwritten",
    "race": "every cross-module SRAM conflict (LOAD -> GEMM on INP/WGT; GEMM, ALU, reset, "
    "LOAD ACC <-> STORE on ACC/OUT rows) and every STORE/LOAD pair on the same DRAM bytes is "
    "ordered by dependency tokens, so no implementation's timing or scheduling can change the "
    "result",
    "uninitialized": "GEMMs read only INP/WGT rows this program loaded (SRAM contents are not "
    "defined at launch)",
    "uop-waw": "inside a GEMM/ALU micro-op loop a micro-op's destination differs from the two "
    "before it (HLS's II=1 pipeline has no accumulator hazard check; VTA's VerifyDep)",
    "tokens": "every pop has its push, the four token queues are empty at FINISH (HLS asserts "
    "it), every instruction is ordered before FINISH, and no counter can hold more than 255 "
    "tokens in any execution (Chisel's counters are 8 bits)",
    "sram-range": "every SRAM index is inside its buffer (hardware wraps, VTA's simulator aborts)",
    "alu-subset": "ALU ops every implementation runs alike: no MUL (HLS ignores it, Chisel "
    "stalls), SHR by an immediate in -15..15",
}

_MODS = (Module.LOAD, Module.COMPUTE, Module.STORE)
_COL = {Module.LOAD: 0, Module.COMPUTE: 1, Module.STORE: 2}
MAX_PER_RULE = 20  # violations kept per rule (the count is still exact)


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, at which instruction, what (rows, fields), and the other party."""

    rule: str
    index: int  # instruction index, -1 for the whole program
    message: str
    rows: tuple[int, ...] = ()  # SRAM rows concerned (the first few)
    other: int = -1  # the other instruction involved (e.g. the racing writer), -1 if none

    def text(self, insns: list[Insn] | None = None) -> str:
        where = f"instruction {self.index}" if self.index >= 0 else "program"
        if insns is not None and self.index >= 0:
            where += f" ({disasm(insns[self.index])})"
        return f"[{self.rule}] {where}: {self.message}"


@dataclass
class HappensBefore:
    """Vector clocks of a program's token order. `clock[i, c]` = instructions of module
    `_MODS[c]` that finish before instruction i starts (i's own module: its position)."""

    module: list[Module]
    pos: list[int]  # position of each instruction in its module's queue
    clock: np.ndarray  # (n, 3) int64
    reached: list[bool]  # False: the instruction waits forever (a pop without its push)
    left: dict[str, int]  # tokens pushed and never popped, per counter
    order: list[int]  # VTA fsim's order: load, compute, store each run until blocked, repeated

    def before(self, a: int, b: int) -> bool:
        """Instruction a finishes before instruction b starts, on every implementation."""
        return self.pos[a] < self.clock[b, _COL[self.module[a]]]


def happens_before(insns: list[Insn]) -> HappensBefore:
    """Vector clocks from module order and token matching (no timing involved)."""
    n = len(insns)
    module = [insn_module(i) for i in insns]
    queues: dict[Module, list[int]] = {m: [] for m in _MODS}
    pos = [0] * n
    for i, m in enumerate(module):
        pos[i] = len(queues[m])
        queues[m].append(i)
    pops: list[list[str]] = [[] for _ in range(n)]
    pushes: list[list[str]] = [[] for _ in range(n)]
    for i, insn in enumerate(insns):
        for flag, tok in TOKEN_OF_FLAG[module[i]].items():
            if tok and getattr(insn, flag):
                (pops if flag.startswith("pop") else pushes)[i].append(tok)
    tokens = sorted({t for f in TOKEN_OF_FLAG.values() for t in f.values() if t})
    pushed: dict[str, list[int]] = {t: [] for t in tokens}
    popped = dict.fromkeys(tokens, 0)
    clock = np.zeros((n, 3), np.int64)
    done = np.zeros((n, 3), np.int64)  # clock of the instant instruction i has finished
    reached = [False] * n
    order: list[int] = []
    nxt = dict.fromkeys(_MODS, 0)
    progress = True
    while progress:  # run each module until its head waits for a push not made yet
        progress = False
        for m in _MODS:
            q, col = queues[m], _COL[m]
            while nxt[m] < len(q):
                i = q[nxt[m]]
                if any(popped[t] >= len(pushed[t]) for t in pops[i]):
                    break
                c = done[q[nxt[m] - 1]].copy() if nxt[m] else np.zeros(3, np.int64)
                for t in pops[i]:
                    np.maximum(c, done[pushed[t][popped[t]]], out=c)
                    popped[t] += 1
                c[col] = pos[i]
                clock[i] = c
                done[i] = c
                done[i, col] = pos[i] + 1
                reached[i] = True
                order.append(i)
                for t in pushes[i]:
                    pushed[t].append(i)
                nxt[m] += 1
                progress = True
    left = {t: len(pushed[t]) - popped[t] for t in tokens}
    return HappensBefore(module, pos, clock, reached, left, order)


# ----- SRAM row sets ------------------------------------------------------------------------


def expand(uops: np.ndarray, insn: GemmInsn | AluInsn) -> tuple[np.ndarray, ...]:
    """(dst, src, wgt) row indices of every micro-op in execution order (o, i, u)."""
    o = np.arange(insn.iter_out, dtype=np.int64)[:, None, None]
    i = np.arange(insn.iter_in, dtype=np.int64)[None, :, None]
    wf = (getattr(insn, "wgt_factor_out", 0), getattr(insn, "wgt_factor_in", 0))
    out = []
    for col, (fo, fi) in enumerate(
        ((insn.dst_factor_out, insn.dst_factor_in), (insn.src_factor_out, insn.src_factor_in), wf)
    ):
        out.append((uops[None, None, :, col] + o * fo + i * fi).reshape(-1))
    return tuple(out)


@dataclass
class _Rows:
    """The rows one instruction touches in one buffer (sorted, unique, in range)."""

    index: int
    rows: np.ndarray
    kind: str = ""  # ACC writers: gemm | alu | reset | load

    @property
    def lo(self) -> int:
        return int(self.rows[0])

    @property
    def hi(self) -> int:
        return int(self.rows[-1]) + 1


class _Findings:
    """Violations by rule, at most MAX_PER_RULE kept per rule, every one counted."""

    def __init__(self):
        self.kept: list[Violation] = []
        self.counts: dict[str, int] = dict.fromkeys(RULES, 0)

    def add(self, rule: str, index: int, message: str, rows=(), other: int = -1) -> None:
        self.counts[rule] += 1
        if self.counts[rule] <= MAX_PER_RULE:
            self.kept.append(Violation(rule, index, message, tuple(int(r) for r in rows), other))


def _rows_text(rows: np.ndarray, limit: int = 6) -> str:
    rows = [int(r) for r in rows]
    if len(rows) > 1 and rows == list(range(rows[0], rows[-1] + 1)):
        return f"rows {rows[0]}..{rows[-1]}"
    more = f", ... ({len(rows)} rows)" if len(rows) > limit else ""
    return "rows " + ", ".join(map(str, rows[:limit])) + more


@dataclass
class _Accesses:
    inp_w: list[_Rows]
    wgt_w: list[_Rows]
    inp_r: list[_Rows]
    wgt_r: list[_Rows]
    acc_w: list[_Rows]
    out_r: list[_Rows]


def _in_range(f: _Findings, i: int, buf: str, fld: str, rows: np.ndarray, depth: int):
    """`rows` modulo `depth` (as hardware wraps), recording a violation if any was outside."""
    if len(rows) and (rows.max() >= depth or rows.min() < 0):
        bad = rows[(rows >= depth) | (rows < 0)]
        f.add("sram-range", i, f"{fld}: {buf} {_rows_text(np.unique(bad))} outside 0..{depth - 1}")
        rows = rows % depth
    return np.unique(rows)


def _accesses(program: Program, f: _Findings, dram: np.ndarray) -> _Accesses:
    """Row sets of every instruction; the micro-op rules (uop-waw, sram-range, alu-subset)."""
    cfg, insns = program.cfg, program.insns
    uop = np.zeros((cfg.uop_depth, 3), np.int64)
    acc = _Accesses([], [], [], [], [], [])
    depth = {
        MemType.INP: cfg.inp_depth,
        MemType.WGT: cfg.wgt_depth,
        MemType.ACC: cfg.acc_depth,
        MemType.ACC_8BIT: cfg.acc_depth,
        MemType.UOP: cfg.uop_depth,
        MemType.OUT: cfg.out_depth,
    }
    for i, insn in enumerate(insns):
        if isinstance(insn, MemInsn):
            if insn.is_nop:
                continue
            mt = insn.mem_type
            if insn.opcode == Opcode.STORE:
                n = insn.y_size * insn.x_size
            else:
                n = (insn.y_pad_0 + insn.y_size + insn.y_pad_1) * (
                    insn.x_pad_0 + insn.x_size + insn.x_pad_1
                )
            if mt not in depth:
                continue  # an invalid memory type: hw_sim rejects it when run
            raw = insn.sram_base + np.arange(n, dtype=np.int64)
            rows = _in_range(f, i, mt.name, "sram_base", raw, depth[mt])
            if insn.opcode == Opcode.STORE:
                acc.out_r.append(_Rows(i, rows))
            elif mt == MemType.UOP:
                eb = mem_elem_bytes(cfg, MemType.UOP)
                starts = (insn.dram_base + np.arange(insn.y_size) * insn.x_stride) * eb
                idx = (starts[:, None] + np.arange(insn.x_size * eb)[None, :]).reshape(-1)
                if n == insn.y_size * insn.x_size and (idx < dram.size).all():
                    words = np.ascontiguousarray(dram[idx]).view("<u4")
                    uop[raw % cfg.uop_depth] = decode_uops(words, cfg)
                # (padded or out-of-DRAM micro-op loads are errors hw_sim reports when run)
            elif mt == MemType.INP:
                acc.inp_w.append(_Rows(i, rows))
            elif mt == MemType.WGT:
                acc.wgt_w.append(_Rows(i, rows))
            else:
                acc.acc_w.append(_Rows(i, rows, "load"))
        elif isinstance(insn, GemmInsn | AluInsn):
            if insn.uop_end > cfg.uop_depth or insn.uop_end < insn.uop_bgn:
                f.add("sram-range", i, f"micro-op window {insn.uop_bgn}..{insn.uop_end - 1} "
                      f"outside UOP rows 0..{cfg.uop_depth - 1}")  # fmt: skip
                continue
            if insn.n_uops == 0:
                continue
            dst, src, wgt = expand(uop[insn.uop_bgn : insn.uop_end], insn)
            _uop_waw(f, i, dst, insn)
            gemm = isinstance(insn, GemmInsn)
            kind = ("reset" if insn.reset else "gemm") if gemm else "alu"
            d = _in_range(f, i, "ACC", "dst", dst, cfg.acc_depth)
            acc.acc_w.append(_Rows(i, d, kind))
            if gemm and not insn.reset:
                acc.inp_r.append(_Rows(i, _in_range(f, i, "INP", "src", src, cfg.inp_depth)))
                acc.wgt_r.append(_Rows(i, _in_range(f, i, "WGT", "wgt", wgt, cfg.wgt_depth)))
            elif not gemm:
                if not insn.use_imm:
                    _in_range(f, i, "ACC", "src", src, cfg.acc_depth)
                _alu_subset(f, i, insn)
    return acc


def _uop_waw(f: _Findings, i: int, dst: np.ndarray, insn: GemmInsn | AluInsn) -> None:
    for gap in (1, 2):
        hit = np.flatnonzero(dst[gap:] == dst[:-gap]) if len(dst) > gap else []
        if len(hit):
            k = int(hit[0]) + gap
            per = insn.iter_in * (insn.uop_end - insn.uop_bgn)
            o, rest = divmod(k, per)
            it, u = divmod(rest, insn.uop_end - insn.uop_bgn)
            f.add("uop-waw", i, f"micro-op {insn.uop_bgn + u} at iteration (o={o}, i={it}) "
                  f"writes ACC row {int(dst[k])}, as the micro-op {gap} before it does",
                  rows=(int(dst[k]),))  # fmt: skip
            return


def _alu_subset(f: _Findings, i: int, insn: AluInsn) -> None:
    if insn.alu_op == AluOp.MUL:
        f.add("alu-subset", i, "MUL is fsim-only (HLS leaves ACC unchanged, Chisel stalls)")
    elif insn.alu_op == AluOp.SHR and insn.use_imm and not -15 <= insn.imm <= 15:
        f.add("alu-subset", i, f"SHR by {insn.imm}: implementations read the amount as 5 bits "
              "differently (portable: -15..15; split into several SHRs)")  # fmt: skip


def _ordered(hb: HappensBefore, f: _Findings, writers, readers, wcol: int, rcol: int,
             depth: int, buf: str, on_source) -> None:  # fmt: skip
    """Race check of `readers` (one module, queue order) against `writers` (another module,
    queue order) on one buffer; `on_source(reader, last_writer_per_row)` checks provenance."""
    wpos = [hb.pos[w.index] for w in writers]
    w_after = [int(hb.clock[w.index, rcol]) for w in writers]  # readers done before w starts
    last = np.full(depth, -1, np.int64)
    applied = 0
    mask = np.zeros(depth, bool)
    for r in readers:
        i = r.index
        if not hb.reached[i] or not len(r.rows):
            continue
        lo = bisect_left(wpos, int(hb.clock[i, wcol]))
        while applied < lo:
            last[writers[applied].rows] = writers[applied].index
            applied += 1
        on_source(r, last[r.rows])
        hi = bisect_left(w_after, hb.pos[i] + 1)
        if hi <= lo:
            continue
        mask[r.rows] = True
        for w in writers[lo:hi]:
            if w.lo < r.hi and r.lo < w.hi and mask[w.rows].any():
                both = w.rows[mask[w.rows]]
                f.add("race", i, f"{buf} {_rows_text(both)}: instruction {w.index} writes them "
                      "and no token orders it before or after this one", both, w.index)  # fmt: skip
                break
        mask[r.rows] = False


def check_rules(
    program: Program, hb: HappensBefore | None = None, dram: np.ndarray | None = None
) -> tuple[list[Violation], dict[str, int]]:
    """Every violation of `RULES` (at most MAX_PER_RULE kept per rule) and the count per rule.
    The micro-ops are read from `dram` (default: the program's own image; a linked model's
    relocated programs have none and run on the model's shared DRAM)."""
    insns, cfg = program.insns, program.cfg
    f = _Findings()
    hb = hb or happens_before(insns)
    _token_rules(f, hb, insns)
    acc = _accesses(program, f, program.dram if dram is None else dram)
    kinds = {w.index: w.kind for w in acc.acc_w}
    lc, cc, sc = _COL[Module.LOAD], _COL[Module.COMPUTE], _COL[Module.STORE]

    def loaded(buf):
        def check(r: _Rows, last: np.ndarray) -> None:
            if (last < 0).any():
                f.add("uninitialized", r.index, f"reads {buf} {_rows_text(r.rows[last < 0])}, "
                      "which no earlier LOAD wrote", r.rows[last < 0])  # fmt: skip

        return check

    def stored(r: _Rows, last: np.ndarray) -> None:
        if (last < 0).any():
            rows = r.rows[last < 0]
            f.add("store-source", r.index, f"stores {_rows_text(rows)}, which no GEMM/ALU "
                  "micro-op wrote before it", rows)  # fmt: skip
            return
        for w in np.unique(last):
            k = kinds[int(w)]
            if k in ("reset", "load"):
                rows = r.rows[last == w]
                what = "a GEMM reset" if k == "reset" else "LOAD ACC"
                f.add("store-source", r.index, f"stores {_rows_text(rows)}, last written by "
                      f"{what} (instruction {int(w)}): Chisel stores the old OUT, HLS "
                      f"{'garbage' if k == 'reset' else 'the old OUT'}, fsim the ACC value",
                      rows, int(w))  # fmt: skip
                return

    _ordered(hb, f, acc.inp_w, acc.inp_r, lc, cc, cfg.inp_depth, "INP", loaded("INP"))
    _ordered(hb, f, acc.wgt_w, acc.wgt_r, lc, cc, cfg.wgt_depth, "WGT", loaded("WGT"))
    _ordered(hb, f, acc.acc_w, acc.out_r, cc, sc, cfg.acc_depth, "ACC/OUT", stored)
    _dram_races(program, hb, f)
    return f.kept, f.counts


def _dram_rows(cfg, insn: MemInsn) -> tuple[np.ndarray, int]:
    """Start byte of each DRAM row the instruction touches, and the row length in bytes."""
    eb = mem_elem_bytes(cfg, insn.mem_type)
    starts = (insn.dram_base + np.arange(insn.y_size, dtype=np.int64) * insn.x_stride) * eb
    return np.sort(starts), insn.x_size * eb


def _dram_races(program: Program, hb: HappensBefore, f: _Findings) -> None:
    """A STORE and a LOAD (of any module) touching the same DRAM bytes must be ordered by
    tokens: a program that reads back what it stored (several layers in one launch) gets the
    stored bytes on every implementation, not whatever its timing gives."""
    insns, cfg = program.insns, program.cfg
    mems = [i for i, x in enumerate(insns) if isinstance(x, MemInsn) and not x.is_nop]
    stores = [i for i in mems if insns[i].opcode == Opcode.STORE and hb.reached[i]]
    loads = [i for i in mems if insns[i].opcode != Opcode.STORE and hb.reached[i]]
    if not stores or not loads:
        return
    rows = {i: _dram_rows(cfg, insns[i]) for i in stores + loads}
    lo = np.array([rows[i][0][0] for i in loads])
    hi = np.array([rows[i][0][-1] + rows[i][1] for i in loads])
    for s in stores:
        s_starts, s_len = rows[s]
        cand = np.flatnonzero((lo < s_starts[-1] + s_len) & (hi > s_starts[0]))
        for k in cand:
            ld = loads[int(k)]
            if hb.before(s, ld) or hb.before(ld, s):
                continue
            l_starts, l_len = rows[ld]
            idx = np.searchsorted(s_starts, l_starts - s_len, side="right")
            hit = (idx < len(s_starts)) & (
                s_starts[np.minimum(idx, len(s_starts) - 1)] < l_starts + l_len
            )
            if hit.any():
                byte = int(l_starts[np.argmax(hit)])
                f.add("race", s, f"DRAM bytes from {byte}: instruction {ld} "
                      f"({insns[ld].mem_type.name} LOAD) reads what this STORE writes, and no "
                      "token orders them", other=ld)  # fmt: skip
                break


def _token_rules(f: _Findings, hb: HappensBefore, insns: list[Insn]) -> None:
    for m in _MODS:
        stuck = [i for i, mm in enumerate(hb.module) if mm == m and not hb.reached[i]]
        if stuck:
            f.add("tokens", stuck[0], f"the {m.name.lower()} module waits here forever: a pop "
                  "whose push never happens (VTA's simulator spins, hardware hangs)")  # fmt: skip
    for t, k in hb.left.items():
        if k > 0:
            f.add("tokens", -1, f"{k} {t} token(s) pushed and never popped: the queue is not "
                  "empty at FINISH (HLS asserts it is)")  # fmt: skip
    _token_bound(f, hb, insns)
    fin = [i for i, x in enumerate(insns) if isinstance(x, FinishInsn)]
    if not fin:
        f.add("tokens", -1, "no FINISH: the run never ends")
        return
    k = fin[0]
    if not hb.reached[k]:
        return
    for m in _MODS:  # the first instruction of each module that may outlive FINISH
        late = [i for i, mm in enumerate(hb.module) if mm == m and i != k and not hb.before(i, k)]
        if late:
            f.add("tokens", late[0], f"not ordered before FINISH (instruction {k}): it may still "
                  "run when the host reads DRAM (fsim stops at FINISH)", other=k)  # fmt: skip


def _token_bound(f: _Findings, hb: HappensBefore, insns: list[Insn]) -> None:
    """Outstanding tokens per counter in the worst execution: when the k-th push happens, only
    the pops that happen before it are certain, so up to `k - #those` tokens are outstanding."""
    limit = (1 << TOKEN_COUNTER_WIDTH) - 1
    for pusher, flags_of in TOKEN_OF_FLAG.items():
        for flag, tok in flags_of.items():
            if not tok or not flag.startswith("push"):
                continue
            popper, pop_flag = next(
                (m, fl) for m, fs in TOKEN_OF_FLAG.items() for fl, t in fs.items()
                if t == tok and fl.startswith("pop")
            )  # fmt: skip
            pushers = [i for i, x in enumerate(insns)
                       if hb.module[i] == pusher and getattr(x, flag)]  # fmt: skip
            pops = [hb.pos[i] for i, x in enumerate(insns)
                    if hb.module[i] == popper and getattr(x, pop_flag)]  # fmt: skip
            col = _COL[popper]
            for k, p in enumerate(pushers):
                if not hb.reached[p]:
                    break
                out = k + 1 - bisect_left(pops, int(hb.clock[p, col]))
                if out > limit:
                    f.add("tokens", p, f"may push {tok} token #{k + 1} while {out - 1} are "
                          f"outstanding: Chisel's 8-bit counter holds {limit}")  # fmt: skip
                    break
