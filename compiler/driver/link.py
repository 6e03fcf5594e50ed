"""Linking: one DRAM layout for a whole model, and accelerator programs relocated into it.

    DRAM = [ constants: weights, bias digits, micro-op kernels (each placed once) | arena ]

The arena holds every activation (graph inputs, the values launches pass to each other, the
outputs); values whose lifetimes (first write .. last read, in launch order) do not overlap
share bytes. Placement is greedy by size, largest first, at the lowest offset free for the
value's whole lifetime (the arena planners of TFLite and TVM's graph memory planner work the same
way). Every buffer is aligned to the largest DRAM element, so any memory type can address it.

`relocate` rewrites the DRAM element indices of a compiled kernel's LOAD/STORE instructions from
its private layout to the linked one: the instruction stream is otherwise unchanged.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, replace

import numpy as np

from hw_sim.config import HwConfig
from hw_sim.isa import MemInsn
from hw_sim.program import DramBuffer, Program, dram_alignment, mem_elem_bytes


class LinkError(ValueError):
    """A program cannot be relocated (an address outside every buffer)."""


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


@dataclass
class ConstantPool:
    """Constant DRAM contents, deduplicated by content (equal bias rows share one copy)."""

    align: int
    chunks: list[np.ndarray]
    offsets: dict[str, int]  # content key -> offset
    size: int = 0

    @classmethod
    def empty(cls, cfg: HwConfig) -> ConstantPool:
        return cls(dram_alignment(cfg), [], {}, 0)

    def place(self, array: np.ndarray) -> int:
        raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        key = hashlib.sha256(raw.tobytes()).hexdigest() + str(array.dtype)
        if key not in self.offsets:
            self.offsets[key] = self.size
            self.chunks.append(raw)
            self.size = _align(self.size + max(raw.size, 1), self.align)
        return self.offsets[key]

    def image(self) -> np.ndarray:
        out = np.zeros(self.size, np.uint8)
        for off, raw in zip(self.offsets.values(), self.chunks, strict=True):
            out[off : off + raw.size] = raw
        return out


@dataclass(frozen=True)
class ArenaPlan:
    offsets: dict[str, int]  # value -> offset inside the arena
    peak_bytes: int  # arena size
    total_bytes: int  # the sum of all values' (aligned) sizes, without reuse


def plan_arena(
    sizes: dict[str, int], lifetimes: dict[str, tuple[int, int]], align: int
) -> ArenaPlan:
    """Offsets for values of `sizes` bytes live over inclusive launch ranges `lifetimes`."""
    order = sorted(sizes, key=lambda v: (-sizes[v], lifetimes[v][0], v))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[str, int] = {}
    for v in order:
        size = _align(max(sizes[v], 1), align)
        first, last = lifetimes[v]
        busy = sorted((o, e) for o, e, f, l in placed if f <= last and first <= l)  # noqa: E741
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, e)
        offsets[v] = offset
        placed.append((offset, offset + size, first, last))
    peak = max((e for _, e, _, _ in placed), default=0)
    total = sum(_align(max(s, 1), align) for s in sizes.values())
    return ArenaPlan(offsets, peak, total)


def relocate(program: Program, new_offsets: dict[str, int], cfg: HwConfig) -> Program:
    """`program` with every buffer moved to `new_offsets[name]` (bytes, linked DRAM) and its
    LOAD/STORE DRAM indices rewritten; the returned program has no DRAM image of its own."""
    bufs = sorted(program.buffers.values(), key=lambda b: b.offset)
    starts = [b.offset for b in bufs]
    missing = [b.name for b in bufs if b.name not in new_offsets]
    if missing:
        raise LinkError(f"no linked offset for buffer(s) {', '.join(missing)}")
    insns = []
    for i, insn in enumerate(program.insns):
        if isinstance(insn, MemInsn) and not insn.is_nop:
            size = mem_elem_bytes(cfg, insn.mem_type)
            addr = insn.dram_base * size
            j = bisect.bisect_right(starts, addr) - 1
            if j < 0 or addr >= bufs[j].offset + max(bufs[j].nbytes, 1):
                raise LinkError(
                    f"instruction {i}: DRAM address {addr} is outside every buffer of "
                    f"{program.meta.get('op', 'the program')}"
                )
            b = bufs[j]
            new_addr = new_offsets[b.name] + (addr - b.offset)
            if new_addr % size:
                raise LinkError(f"instruction {i}: buffer {b.name!r} moved to a misaligned offset")
            insn = replace(insn, dram_base=new_addr // size)
        insns.append(insn)
    table = {b.name: DramBuffer(b.name, new_offsets[b.name], b.shape, b.dtype) for b in bufs}
    return Program(program.cfg, insns, np.zeros(0, np.uint8), table, dict(program.meta))
