"""Race detector for the dependency-token protocol.

Two instructions on different modules *race* when they touch the same SRAM rows, at least one
writes them, and neither is ordered before the other by the protocol: an instruction is
ordered after every earlier instruction of its own module (modules run their queue in order)
and after the instruction that pushed the token each of its pops consumes (the k-th pop of a
counter needs k pushes, so it follows the k-th push). Timing does not count: a pair that
happens to run in a safe order at this config, but is not ordered by tokens, is reported,
because other latencies or the RTL may run it the other way and write different DRAM.

Shared SRAMs: INP and WGT (written by LOAD on the load module, read by GEMM on compute) and OUT
(written by GEMM/ALU on compute, read by STORE on the store module); UOP and ACC are compute's
alone. Micro-op loops' rows come from the micro-ops loaded before them (the compute module runs
LOAD UOP, GEMM and ALU in program order), read from the DRAM image the run started from.

Vector clocks (one entry per module) give the ordering in one pass over the instructions in
start-cycle order; per buffer row, the last writer and each module's last reader are kept, as
in FastTrack, so the cost is linear in the rows touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hw_sim import functional
from hw_sim.disasm import disasm
from hw_sim.errors import SimError
from hw_sim.isa import AluInsn, GemmInsn, MemInsn, MemType, Module, Opcode
from hw_sim.program import Program

_MODULES = (Module.LOAD, Module.COMPUTE, Module.STORE)
_SHARED = ("INP", "WGT", "OUT")


@dataclass(frozen=True)
class Race:
    """Instructions `first` and `second` (by start cycle) touch `rows` of `buffer` unordered."""

    first: int
    second: int
    buffer: str
    kind: str  # "write/read", "read/write" or "write/write" (first's access / second's)
    rows: tuple[int, int]  # lowest and highest conflicting row
    count: int  # conflicting rows

    def describe(self, program: Program) -> str:
        a, b = program.insns[self.first], program.insns[self.second]
        ka, kb = self.kind.split("/")
        lo, hi = self.rows
        span = f"row {lo}" if lo == hi else f"rows {lo}..{hi} ({self.count} rows)"
        return (
            f"instruction {self.first} ({disasm(a)}) {ka}s and instruction {self.second} "
            f"({disasm(b)}) {kb}s {self.buffer} {span}, and no token orders them"
        )


class RaceError(SimError):
    """The run finished, but some SRAM accesses of different modules are not ordered by
    tokens (`races`: every pair, as `Race`)."""

    def __init__(self, message: str, races: list[Race]):
        self.races = races
        super().__init__(message)


def _accesses(st: functional.SramState, insn, dram: np.ndarray, where):
    """[(buffer, rows array, is_write)] of the shared SRAMs `insn` touches."""
    cls = type(insn)
    if cls is MemInsn:
        if insn.x_size == 0 or insn.y_size == 0 and insn.opcode == Opcode.STORE:
            return []
        if insn.opcode == Opcode.STORE:
            return [("OUT", slice(insn.sram_base, insn.sram_base + insn.y_size * insn.x_size),
                     False)]  # fmt: skip
        rows = (insn.y_pad_0 + insn.y_size + insn.y_pad_1) * (insn.x_pad_0 + insn.x_size
                                                              + insn.x_pad_1)  # fmt: skip
        if insn.mem_type == MemType.UOP:
            functional.load(st, dram, insn, where)  # later loops read these micro-ops
            return []
        if insn.mem_type in (MemType.INP, MemType.WGT):
            return [(insn.mem_type.name, slice(insn.sram_base, insn.sram_base + rows), True)]
        return []
    if cls is GemmInsn or cls is AluInsn:
        if insn.n_uops == 0:
            return []
        uops = st.uop[insn.uop_bgn : insn.uop_end]
        gemm = cls is GemmInsn
        if gemm and insn.reset:
            return []  # ACC only
        cols = (0, 1, 2) if gemm else (0,)
        rows = {c: _loop_rows(insn, uops, c) for c in cols}
        out = [("OUT", rows[0], True)]
        if gemm:
            out += [("INP", rows[1], False), ("WGT", rows[2], False)]
        return out
    return []


def _loop_rows(insn, uops: np.ndarray, col: int) -> np.ndarray:
    """The rows column `col` (0 dst, 1 src, 2 wgt) of a micro-op loop visits, without
    materializing the loop: the support of the micro-ops' histogram convolved with the two
    levels' offsets (bounded by the buffer depth, so a 10**8-micro-op loop costs no more)."""
    name = ("dst", "src", "wgt")[col]
    h = (np.bincount(uops[:, col]) > 0).astype(np.int64)
    for level in ("out", "in"):
        iters, factor = getattr(insn, f"iter_{level}"), getattr(insn, f"{name}_factor_{level}")
        if factor and iters > 1:
            step = np.zeros((iters - 1) * factor + 1, np.int64)
            step[::factor] = 1
            h = (np.convolve(h, step) > 0).astype(np.int64)
    return np.flatnonzero(h)


def find_races(program: Program, start: list[int], dram: np.ndarray | None = None) -> list[Race]:
    """Every unordered pair of cross-module accesses to the same SRAM rows, in a run whose
    instructions started at cycles `start` (-1 = never ran)."""
    from hw_sim.simulator import _prepared

    prep = _prepared(program)
    dram = program.dram if dram is None else dram
    n = len(program.insns)
    slot = {int(m): k for k, m in enumerate(_MODULES)}
    mod = [slot[m] for m in prep.module]
    seq = np.zeros(max(n, 1), np.int64)  # position of each instruction in its module's queue
    counts = [0, 0, 0]
    for i in range(n):
        counts[mod[i]] += 1
        seq[i] = counts[mod[i]]
    pushes_by_counter: list[list[int]] = [[] for _ in range(4)]
    for i in range(n):
        for c in prep.pushes[i]:
            pushes_by_counter[c].append(i)
    popped = [0] * 4
    clock: list[list[int]] = [[0, 0, 0] for _ in range(n)]
    last = [[0, 0, 0] for _ in range(3)]  # each module's latest clock
    st = functional.SramState(program.cfg)
    writer = {b: np.full(_depth(program, b), -1, np.int64) for b in _SHARED}
    reader = {b: np.full((3, _depth(program, b)), -1, np.int64) for b in _SHARED}
    found: dict[tuple[int, int, str, str], list[np.ndarray]] = {}
    ran = sorted((i for i in range(n) if start[i] >= 0), key=lambda i: (start[i], mod[i]))
    # Token edges need the pushes' clocks first: visit in program order per module, merging the
    # three queues by start cycle (a valid execution order, so every push precedes its pop).
    for i in ran:
        vc = list(last[mod[i]])
        for c in prep.pops[i]:
            k = popped[c]
            popped[c] += 1
            if k < len(pushes_by_counter[c]):
                vc = [max(a, b) for a, b in zip(vc, clock[pushes_by_counter[c][k]], strict=True)]
        vc[mod[i]] = int(seq[i])
        clock[i] = vc
        last[mod[i]] = vc
        for buf, rows, is_write in _accesses(st, program.insns[i], dram,
                                             functional.Where(i, program.insns[i])):  # fmt: skip
            _check_rows(i, buf, rows, is_write, mod, seq, clock, writer, reader, found)
    return [
        Race(a, b, buf, kind, (int(r.min()), int(r.max())), int(r.size))
        for (a, b, buf, kind), parts in sorted(found.items())
        for r in [np.unique(np.concatenate(parts))]
    ]


def _depth(program: Program, buf: str) -> int:
    cfg = program.cfg
    return {"INP": cfg.inp_depth, "WGT": cfg.wgt_depth, "OUT": cfg.out_depth}[buf]


def _rows_of(rows, mask):
    """The rows (an index array or a slice) selected by a boolean mask over them."""
    if isinstance(rows, slice):
        return np.flatnonzero(mask) + rows.start
    return rows[mask]


def _check_rows(i, buf, rows, is_write, mod, seq, clock, writer, reader, found) -> None:
    """Record races of instruction i's access to `rows` with earlier accesses; update state."""
    me = mod[i]
    mine = clock[i]

    def note(j, kind, where):
        if mod[j] != me and mine[mod[j]] < seq[j]:  # j is not ordered before i
            found.setdefault((j, i, buf, kind), []).append(where)

    def each(owners, kind):
        top = int(owners.max()) if owners.size else -1
        if top < 0:
            return
        low = int(owners[owners >= 0].min())
        for j in [top] if low == top else np.unique(owners[owners >= 0]).tolist():
            note(j, kind, _rows_of(rows, owners == j))

    each(writer[buf][rows], "write/write" if is_write else "write/read")
    if is_write:
        for m in range(3):
            if m == me:
                continue
            r = reader[buf][m][rows]
            each(r, "read/write")
            # Readers ordered before this write are covered by it from now on; unordered ones
            # stay, so a later write is checked against them too.
            ordered = (r >= 0) & (mine[m] >= seq[np.maximum(r, 0)])
            if ordered.any():
                reader[buf][m][_rows_of(rows, ordered)] = -1
        writer[buf][rows] = i
    else:
        reader[buf][me][rows] = i


def races_checked_by_default() -> bool:
    """`VTAC_CHECK_RACES=1` turns the race detector on for every run (the test suite sets it)."""
    return os.environ.get("VTAC_CHECK_RACES", "0") == "1"


def race_error(program: Program, races: list[Race]) -> RaceError:
    lines = [f"  {r.describe(program)}" for r in races[:20]]
    more = f"\n  ... and {len(races) - 20} more" if len(races) > 20 else ""
    return RaceError(
        f"{len(races)} unordered pair(s) of SRAM accesses between modules (the token flags do "
        "not order them):\n" + "\n".join(lines) + more,
        races,
    )
