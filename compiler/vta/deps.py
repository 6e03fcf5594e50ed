"""Pass `insert_dep_tokens`: dependency tokens on the generated instruction stream.

The load, compute and store modules run their queues in order but independently; tokens order
them where they share an SRAM: INP/WGT (written by load, read by compute) and OUT (written by
compute's GEMM/ALU micro-ops, read by store). For each instruction, the latest earlier
instruction of another module that conflicts with it (overlapping rows, at least one writer: RAW
or WAR) must finish first; the producer pushes a token and the consumer pops it — unless an
earlier token between the same two modules already covers it (queues are in order). This
handles what loop-level insertion calls loop-carried dependencies, initial tokens and drains
exactly, on the unrolled stream: every edge points backwards, so the stream can neither deadlock
on tokens nor on fetch's in-order dispatch, and every push is matched by exactly one pop.
Virtual threads use disjoint rows, so their chains of tokens are independent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hw_sim.isa import Insn, Module


@dataclass(frozen=True)
class Access:
    mem: str  # "INP" | "WGT" | "OUT"
    lo: int
    hi: int  # exclusive
    write: bool


@dataclass
class StreamInsn:
    insn: Insn
    queue: Module
    accesses: tuple[Access, ...] = ()


_PAIRS = {
    Module.LOAD: (Module.COMPUTE,),
    Module.COMPUTE: (Module.LOAD, Module.STORE),
    Module.STORE: (Module.COMPUTE,),
}


def _conflict(a: tuple[Access, ...], b: tuple[Access, ...]) -> bool:
    for x in a:
        for y in b:
            if x.mem == y.mem and (x.write or y.write) and x.lo < y.hi and y.lo < x.hi:
                return True
    return False


def insert_dep_tokens(stream: list[StreamInsn]) -> list[Insn]:
    """Set push/pop flags so that every cross-module conflict is ordered; returns the insns."""
    flags = [dict() for _ in stream]
    by_queue: dict[Module, list[int]] = {m: [] for m in _PAIRS}
    synced: dict[tuple[Module, Module], int] = {}
    for i, s in enumerate(stream):
        c = s.queue
        if s.accesses:
            for p in _PAIRS[c]:
                floor = synced.get((p, c), -1)
                hist = by_queue[p]
                for j in reversed(hist):
                    if j <= floor:
                        break
                    if _conflict(stream[j].accesses, s.accesses):
                        if p < c:
                            flags[j]["push_next"] = True
                            flags[i]["pop_prev"] = True
                        else:
                            flags[j]["push_prev"] = True
                            flags[i]["pop_next"] = True
                        synced[(p, c)] = j
                        break
        by_queue[c].append(i)
    return [replace(s.insn, **f) if f else s.insn for s, f in zip(stream, flags, strict=True)]
