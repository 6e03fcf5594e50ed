"""Seeded fuzzed programs: legal and illegal instruction streams to check that every device
reports the same outcome (finished, or the same `hw_sim.errors` class) and never crashes.

`fuzz_case(cfg, family, seed)` returns a `Program`, or the `MalformedInstruction` its words
raised when decoded. Families:

* `fields`: instructions built field by field with random values biased to edges (0, 1, small,
  all-ones) and random dependency flags: mostly faulty (ranges, tokens, deadlocks);
* `words`: every field's bits uniformly random (memory types and ALU opcodes may be invalid);
* `bitflips`: one to three bits flipped in the instruction words of a built-in example;
* `heavy`: one legal long micro-op loop (aliasing ALU, zero-factor GEMM levels, immediates).

Every case stays below `MAX_FUZZ_CYCLES` (`hw_sim.simulator.cycle_bound`), so a case that does
not fault finishes in well under a second on hw_sim and a few seconds on the RTL.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.isa import (
    AluInsn,
    AluOp,
    GemmInsn,
    Insn,
    MalformedInstruction,
    MemType,
    Opcode,
    decode,
    encode_program,
    isa_layout,
)
from hw_sim.program import Program

FAMILIES = ("fields", "words", "bitflips", "heavy")
MAX_FUZZ_CYCLES = 2_000_000
MAX_FIELD_UOPS = 4096  # micro-ops per loop in the fields/words families
DRAM_BYTES = 1 << 14
_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")
_OPCODES = (Opcode.LOAD, Opcode.LOAD, Opcode.LOAD, Opcode.STORE, Opcode.GEMM, Opcode.ALU)


def _edge_value(rng: np.random.Generator, width: int) -> int:
    mask = (1 << width) - 1
    r = rng.random()
    if r < 0.3:
        return 0
    if r < 0.45:
        return 1
    if r < 0.85:
        return int(rng.integers(0, min(mask, 24) + 1))
    if r < 0.92:
        return mask
    return int(rng.integers(0, mask + 1))


def _word(rng: np.random.Generator, cfg: HwConfig, opcode: int, uniform: bool) -> int:
    """An instruction word of `opcode` with random field bits (none outside the fields)."""
    word = int(opcode)
    for f in isa_layout(cfg).for_opcode(opcode):
        if f.name == "opcode":
            continue
        if f.name in _FLAGS:
            v = int(rng.random() < (0.25 if uniform else 0.08))
        elif uniform:
            v = int(rng.integers(0, f.mask + 1))
        elif f.name == "mem_type":  # mostly a type the opcode can use
            usual = [MemType.OUT] if opcode == Opcode.STORE else [m for m in MemType if m != 4]
            pool = usual if rng.random() < 0.9 else [m.value for m in MemType] + [6]
            v = int(rng.choice([int(m) for m in pool]))
        elif "_pad_" in f.name:
            v = 0 if rng.random() < 0.8 else _edge_value(rng, f.width)
        elif f.name == "alu_op":
            v = int(rng.integers(0, len(AluOp)))
        elif f.name in ("iter_out", "iter_in"):
            v = int(rng.integers(0, 9)) if rng.random() < 0.9 else _edge_value(rng, f.width)
        else:
            v = _edge_value(rng, f.width)
        word |= (v & f.mask) << f.lsb
    return word


# Flags each module has (load: INP/WGT loads; compute: the rest; store: STORE).
_MODULE_FLAGS = {"load": ("pop_next", "push_next"), "store": ("pop_prev", "push_prev")}


def _mostly_legal(rng, insn: Insn) -> Insn:
    """With probability 0.9 each: drop flags the module lacks, make uop_end >= uop_bgn."""
    from hw_sim.isa import Module, insn_module

    changes = {}
    mod = {Module.LOAD: "load", Module.STORE: "store"}.get(insn_module(insn))
    if mod and rng.random() < 0.9:
        changes |= {f: False for f in _FLAGS if f not in _MODULE_FLAGS[mod]}
    if isinstance(insn, GemmInsn | AluInsn) and insn.uop_end < insn.uop_bgn and rng.random() < 0.9:
        changes["uop_end"] = insn.uop_bgn + int(rng.integers(0, 4))
    return replace(insn, **changes) if changes else insn


def _bounded(insn: Insn) -> bool:
    """Keep loops short enough that a fuzz case runs quickly on the RTL."""
    if isinstance(insn, GemmInsn | AluInsn):
        return insn.n_uops <= MAX_FIELD_UOPS
    return True


def _random_stream(rng, cfg: HwConfig, uniform: bool) -> tuple[list[Insn], MalformedInstruction]:
    insns: list[Insn] = []
    for k in range(int(rng.integers(1, 25))):
        opcode = int(rng.choice(_OPCODES)) if rng.random() < 0.97 else int(Opcode.FINISH)
        for _ in range(8):  # redraw a loop that is too long
            try:
                insn = decode(_word(rng, cfg, opcode, uniform), cfg, k)
            except MalformedInstruction as e:
                return insns, e
            if not uniform:
                insn = _mostly_legal(rng, insn)
            if _bounded(insn):
                break
        else:
            continue
        insns.append(insn)
    if rng.random() < 0.9:
        insns.append(decode(int(Opcode.FINISH), cfg))
    return insns, None


def _with_dram(rng, cfg: HwConfig, insns: list[Insn]) -> Program:
    b = ProgramBuilder(cfg)
    b.buffer("data", data=rng.integers(0, 256, DRAM_BYTES, dtype=np.uint8))
    prog = b.build()
    prog.insns = insns
    return prog


def _bitflips(rng, cfg: HwConfig) -> Program | MalformedInstruction:
    from hw_sim.examples import EXAMPLES

    small = [n for n in EXAMPLES if not n.startswith(("blocked_gemm", "small_insn"))]
    prog = EXAMPLES[small[int(rng.integers(0, len(small)))]](cfg, rng)[0]
    words = encode_program(prog.insns, cfg)
    for _ in range(int(rng.integers(1, 4))):
        i, bit = int(rng.integers(0, len(words))), int(rng.integers(0, 128))
        words[i, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    insns = []
    for i, (lo, hi) in enumerate(words):
        try:
            insn = decode(int(lo) | (int(hi) << 64), cfg, i)
        except MalformedInstruction as e:
            return e
        if not _bounded(insn):
            insn = type(insn)(**(insn.__dict__ | {"iter_out": 1, "iter_in": 1}))
        insns.append(insn)
    prog.insns = insns
    return prog


def _heavy(rng, cfg: HwConfig) -> Program:
    """One long legal loop: aliasing tensor ALU, repeated immediates or zero-factor GEMM."""
    from hw_sim.isa import Uop

    n = int(rng.integers(1, 64))
    rows = int(rng.integers(1, 9))
    uops = [Uop(int(rng.integers(0, rows)), int(rng.integers(0, rows)), 0) for _ in range(n)]
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel(uops))
    budget = MAX_FUZZ_CYCLES // 4 // n
    it_out = int(rng.integers(1, max(2, min(budget, 1 << 14 - 1))))
    it_in = int(rng.integers(1, max(2, min(budget // it_out, 1 << 14 - 1))))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        b.alu(AluOp(int(rng.integers(0, 5))), uop_bgn=0, uop_end=n, iter_out=it_out, iter_in=it_in)
    elif kind == 1:
        b.alu(AluOp(int(rng.integers(0, 5))), imm=int(rng.integers(-40, 40)), uop_bgn=0,
              uop_end=n, iter_out=it_out, iter_in=it_in)  # fmt: skip
    else:
        b.gemm(uop_bgn=0, uop_end=n, iter_out=it_out, iter_in=it_in)
    b.finish()
    return b.build()


def fuzz_case(cfg: HwConfig, family: str, seed: int) -> Program | MalformedInstruction:
    """The fuzz case `seed` of `family` (deterministic)."""
    from hw_sim.simulator import cycle_bound

    if family not in FAMILIES:
        raise ValueError(f"unknown fuzz family {family!r}; families: {', '.join(FAMILIES)}")
    for attempt in range(20):
        rng = np.random.default_rng([seed, FAMILIES.index(family), attempt])
        if family == "bitflips":
            case = _bitflips(rng, cfg)
        elif family == "heavy":
            case = _heavy(rng, cfg)
        else:
            insns, err = _random_stream(rng, cfg, uniform=family == "words")
            case = err if err is not None else _with_dram(rng, cfg, insns)
        if isinstance(case, MalformedInstruction):
            return case
        try:
            bound = cycle_bound(case)
        except Exception:  # an invalid stream: the devices report it
            return case
        if bound <= MAX_FUZZ_CYCLES:
            return case
    return case
