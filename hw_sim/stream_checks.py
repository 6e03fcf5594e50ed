"""Checks of an instruction stream before it runs, shared by every device.

`check_stream(program, dram)` raises, for the first faulty instruction in program order, the
error the simulator would raise when executing it: `InvalidInstructionError` (a token flag the
module lacks, LOAD to OUT, STORE of non-OUT, padded UOP load or STORE, `uop_end < uop_bgn`),
`DramRangeError`, and `SramRangeError` (LOAD/STORE rows, and every index a GEMM/ALU loop
generates from the micro-ops loaded before it). Both hw_sim and the RTL device run it first, so
the two report the same fault class for a faulty stream whatever the scheduling would have
reached first (the RTL itself does not range-check; see docs/rtl.md).

The micro-ops a loop reads are known statically: LOAD UOP, GEMM and ALU all run on the compute
module, in program order, so the UOP buffer before each loop is the result of the LOAD UOPs
before it, read from the initial DRAM image. Only a program whose STOREs overwrite the micro-op
kernels in DRAM before they are loaded escapes this (the simulator's own checks still catch it
when the loop runs).
"""

from __future__ import annotations

import numpy as np

from hw_sim import functional
from hw_sim.isa import AluInsn, GemmInsn, MemInsn, MemType, Opcode
from hw_sim.program import Program


def _beyond(dram: np.ndarray, insn: MemInsn, eb: int) -> bool:
    """True if the rows of `insn` (y_size >= 1) leave the DRAM image (`functional._dram_rows`
    then raises the error, naming the field)."""
    start = insn.dram_base * eb
    end = start + ((insn.y_size - 1) * insn.x_stride + insn.x_size) * eb
    return start >= dram.size or end > dram.size


def _check_load(st: functional.SramState, dram: np.ndarray, insn: MemInsn, where) -> None:
    """The checks of `functional.load`, in its order, without the data work (UOP rows kept)."""
    if insn.x_size == 0:
        return
    mt = insn.mem_type
    if st.load_targets[mt] is None:
        raise where.invalid("LOAD cannot target OUT (OUT is written by GEMM/ALU, read by STORE)")
    rows = (insn.y_pad_0 + insn.y_size + insn.y_pad_1) * (insn.x_pad_0 + insn.x_size + insn.x_pad_1)
    functional._check_sram(where, mt.name, insn.sram_base, rows, st.depth[mt], "sram_base")
    if insn.y_size and _beyond(dram, insn, st.elem_bytes[mt]):
        functional._dram_rows(dram, insn, st.elem_bytes[mt], where)  # raises, naming the field
    if mt == MemType.UOP:
        functional.load(st, dram, insn, where)  # the micro-ops later loops will read


def _check_store(st: functional.SramState, dram: np.ndarray, insn: MemInsn, where) -> None:
    """The checks of `functional.store`, in its order."""
    if not functional.store_moves_data(insn, where):
        return
    rows = insn.y_size * insn.x_size
    functional._check_sram(where, "OUT", insn.sram_base, rows, st.depth[MemType.OUT], "sram_base")
    if _beyond(dram, insn, st.elem_bytes[MemType.OUT]):
        functional._dram_rows(dram, insn, st.elem_bytes[MemType.OUT], where)  # raises


def _uop_bytes(program: Program, dram: np.ndarray) -> bytes:
    """The DRAM bytes every LOAD UOP reads (what the loop checks depend on besides the fields)."""
    eb = program.cfg.uop_elem_bytes
    parts = []
    for insn in program.insns:
        if type(insn) is MemInsn and insn.mem_type == MemType.UOP and insn.opcode == Opcode.LOAD:
            start = insn.dram_base * eb
            parts.append(dram[start : start + insn.x_size * eb].tobytes())
    return b"".join(parts)


def check_stream(program: Program, dram: np.ndarray | None = None) -> None:
    """Raise the simulator's error for the first statically faulty instruction (see above).

    A stream that passed is remembered on the program (like the simulator's prepared form)
    while its instructions, DRAM size and micro-op kernels are unchanged."""
    from hw_sim.simulator import _prepared  # token flags, uop_end < uop_bgn (cached per program)

    dram = program.dram if dram is None else dram
    insns = program.insns
    cached = program.__dict__.get("_hw_sim_checked")
    if cached is not None:
        snapshot, size, uops = cached
        if (
            size == dram.size
            and len(snapshot) == len(insns)
            and all(a is b for a, b in zip(snapshot, insns, strict=True))
            and uops == _uop_bytes(program, dram)
        ):
            return
    _prepared(program)
    st = functional.SramState(program.cfg)  # only its UOP buffer is written here
    passed: set[tuple] = set()
    for k, insn in enumerate(insns):
        cls = type(insn)
        if cls is MemInsn:
            where = functional.Where(k, insn)
            if insn.opcode == Opcode.STORE:
                _check_store(st, dram, insn, where)
            else:
                _check_load(st, dram, insn, where)
        elif cls is GemmInsn or cls is AluInsn:
            key = functional._plan_key(st, insn)  # loop fields + the micro-ops it reads
            if key not in passed:  # streams repeat loops: check each distinct one once
                functional._check_loop(st, insn, functional.Where(k, insn))
                passed.add(key)
    program.__dict__["_hw_sim_checked"] = (list(insns), dram.size, _uop_bytes(program, dram))
