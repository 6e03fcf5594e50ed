"""Closed-form durations of the vtac timing model (docs/timing-model.md, section "Durations").

Every function here is a direct transcription of one formula of that page; the simulator and the
tests call them, and the RTL implements the same arithmetic in hardware.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw_sim.config import HwConfig
from hw_sim.isa import AluInsn, FinishInsn, GemmInsn, Insn, MemInsn
from hw_sim.program import mem_elem_bytes


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class InsnTiming:
    """Duration `D` (cycles) of one instruction and the DRAM-latency cycles inside it."""

    duration: int
    memory: int

    @property
    def busy(self) -> int:
        return self.duration - self.memory


def dma_timing(insn: MemInsn, cfg: HwConfig) -> InsnTiming:
    """LOAD/STORE: `1 + y_size*(R*DRAM_LATENCY + W) + P`, of which `y_size*R*DRAM_LATENCY` memory.

    W = ceil(x_size*elem_bytes / B) beats per row, R = ceil(W / MAX_BURST_BEATS) bursts per row,
    P = one cycle per zero (padding) element written. `x_size == 0` is a 1-cycle NOP.
    """
    if insn.x_size == 0:
        return InsnTiming(1, 0)
    beats = _ceil_div(insn.x_size * mem_elem_bytes(cfg, insn.mem_type), cfg.bus_bytes)
    bursts = _ceil_div(beats, cfg.MAX_BURST_BEATS)
    width = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    pad = (insn.y_pad_0 + insn.y_pad_1) * width + insn.y_size * (insn.x_pad_0 + insn.x_pad_1)
    memory = insn.y_size * bursts * cfg.DRAM_LATENCY
    return InsnTiming(1 + memory + insn.y_size * beats + pad, memory)


def gemm_timing(insn: GemmInsn, cfg: HwConfig) -> InsnTiming:
    """GEMM (reset or not): `max(1, n + GEMM_PIPELINE)`, one micro-op per cycle."""
    return InsnTiming(max(1, insn.n_uops + cfg.GEMM_PIPELINE), 0)


def alu_timing(insn: AluInsn, cfg: HwConfig) -> InsnTiming:
    """ALU: `max(1, n + ALU_PIPELINE)` with an immediate, `max(1, 2n + ALU_PIPELINE)` with a
    tensor operand (two ACC reads through one port)."""
    per_uop = 1 if insn.use_imm else 2
    return InsnTiming(max(1, per_uop * insn.n_uops + cfg.ALU_PIPELINE), 0)


def insn_timing(insn: Insn, cfg: HwConfig) -> InsnTiming:
    """Duration and memory-latency cycles of any instruction."""
    if isinstance(insn, MemInsn):
        return dma_timing(insn, cfg)
    if isinstance(insn, GemmInsn):
        return gemm_timing(insn, cfg)
    if isinstance(insn, AluInsn):
        return alu_timing(insn, cfg)
    if isinstance(insn, FinishInsn):
        return InsnTiming(1, 0)
    raise TypeError(f"not an instruction: {insn!r}")


class TimingModel:
    """The same formulas with every config constant precomputed (the simulator's hot path)."""

    def __init__(self, cfg: HwConfig):
        from hw_sim.isa import MemType

        self.bus = cfg.bus_bytes
        self.burst = cfg.MAX_BURST_BEATS
        self.latency = cfg.DRAM_LATENCY
        self.gemm_pipe = cfg.GEMM_PIPELINE
        self.alu_pipe = cfg.ALU_PIPELINE
        self.elem_bytes = [mem_elem_bytes(cfg, m) for m in MemType]  # indexed by type

    def dma(self, insn: MemInsn) -> tuple[int, int]:
        if insn.x_size == 0:
            return 1, 0
        beats = -(-insn.x_size * self.elem_bytes[insn.mem_type] // self.bus)
        bursts = -(-beats // self.burst)
        xp = insn.x_pad_0 + insn.x_pad_1
        pad = (insn.y_pad_0 + insn.y_pad_1) * (xp + insn.x_size) + insn.y_size * xp
        memory = insn.y_size * bursts * self.latency
        return 1 + memory + insn.y_size * beats + pad, memory

    def gemm(self, insn: GemmInsn) -> int:
        n = insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_bgn)
        return max(1, n + self.gemm_pipe)

    def alu(self, insn: AluInsn) -> int:
        n = insn.iter_out * insn.iter_in * (insn.uop_end - insn.uop_bgn)
        return max(1, (n if insn.use_imm else 2 * n) + self.alu_pipe)


# ----- fetch ------------------------------------------------------------------------------------


def fetch_chunk(cfg: HwConfig) -> int:
    """Instructions per fetch burst: `F = max(1, floor(MAX_BURST_BEATS * B / 16))`."""
    return max(1, cfg.MAX_BURST_BEATS * cfg.bus_bytes // cfg.insn_bytes)


def fetch_arrival_offset(cfg: HwConfig, i: int) -> int:
    """Cycles from a chunk's read request to the arrival of its `i`-th instruction (0-based):
    `DRAM_LATENCY + ceil(16*(i+1) / B)`."""
    return cfg.DRAM_LATENCY + _ceil_div(cfg.insn_bytes * (i + 1), cfg.bus_bytes)
