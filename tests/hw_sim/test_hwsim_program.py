"""Program file format (round trip, truncated/corrupt files) and the disassembler."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.disasm import disasm, listing
from hw_sim.examples import EXAMPLES
from hw_sim.isa import AluInsn, AluOp, FinishInsn, MalformedInstruction, MemInsn, MemType, Opcode
from hw_sim.program import MAGIC, MalformedProgramInstruction, Program, ProgramFormatError
from tests.hw_sim.program_files import with_bad_opcode, with_header


def test_round_trip_file(cfg, rng, tmp_path):
    prog, _ = EXAMPLES["gemm_vt2"](cfg, rng)
    path = tmp_path / "p.vtaprog"
    prog.save(path)
    back = Program.load(path)
    assert back.insns == prog.insns
    assert np.array_equal(back.dram, prog.dram)
    assert back.buffers == prog.buffers
    assert back.cfg == prog.cfg


def test_truncated_and_corrupt_files(cfg, rng, tmp_path):
    data = EXAMPLES["relu"](cfg, rng)[0].to_bytes()
    with pytest.raises(ProgramFormatError, match="checksum mismatch"):
        Program.from_bytes(data[:-10])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    with pytest.raises(ProgramFormatError, match="checksum mismatch"):
        Program.from_bytes(bytes(flipped))
    with pytest.raises(ProgramFormatError, match="bad magic"):
        Program.from_bytes(b"NOTAPROG" + data[8:])
    with pytest.raises(ProgramFormatError, match="truncated"):
        Program.from_bytes(data[:5])
    with pytest.raises(ProgramFormatError, match="not found"):
        Program.load(tmp_path / "missing.vtaprog")


def test_malformed_instruction_in_file(cfg, rng):
    """A file whose checksum is right but whose instruction word is not an instruction."""
    data = with_bad_opcode(EXAMPLES["relu"](cfg, rng)[0].to_bytes(), 2, 6)
    assert data.startswith(MAGIC)
    with pytest.raises(MalformedInstruction, match="instruction 2: unknown opcode 6"):
        Program.from_bytes(data)
    with pytest.raises(ProgramFormatError, match="p.vtaprog: instruction 2: unknown opcode 6"):
        Program.from_bytes(data, source="p.vtaprog")
    assert issubclass(MalformedProgramInstruction, MalformedInstruction)


def test_header_errors_are_format_errors(cfg, rng):
    data = EXAMPLES["relu"](cfg, rng)[0].to_bytes()
    with pytest.raises(ProgramFormatError, match="header lacks n_insns"):
        Program.from_bytes(with_header(data, lambda h: {k: v for k, v in h.items()
                                                        if k != "n_insns"}))  # fmt: skip
    with pytest.raises(ProgramFormatError, match="header is not a JSON object"):
        Program.from_bytes(with_header(data, lambda h: [h]))
    with pytest.raises(ProgramFormatError, match=r"buffers\[0\]: .offset. is a required"):
        Program.from_bytes(with_header(data, lambda h: h | {"buffers": [{"name": "x"}]}))
    with pytest.raises(ProgramFormatError, match="bad hardware config.*LOG_BLOCK"):
        Program.from_bytes(with_header(data, lambda h: h | {"config": {
            k: v for k, v in h["config"].items() if k != "LOG_BLOCK"}}))  # fmt: skip


def test_disasm_shows_flags_and_modules(cfg, rng):
    prog, _ = EXAMPLES["blocked_gemm_vt2"](cfg, rng)
    text = listing(prog.insns)
    lines = text.splitlines()
    assert len(lines) == len(prog.insns)
    assert "load     LOAD INP" in text and "compute  GEMM uop[" in text
    assert "pop:l2g" in text and "push:g2l" in text and "pop:g2s push:s2g" in text
    assert lines[-1].endswith("FINISH")
    assert disasm(MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT)) == "STORE OUT NOP"
    assert "pop_prev!" in disasm(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.INP, pop_prev=True))
    assert "ALU SHR imm=-3" in disasm(AluInsn(alu_op=AluOp.SHR, use_imm=True, imm=-3))
    assert disasm(FinishInsn(pop_next=True)) == "FINISH  pop:s2g"
