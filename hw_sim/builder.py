"""Write accelerator programs by hand (tests, examples) or from a code generator.

    b = ProgramBuilder(cfg)
    x = b.buffer("x", data=x_packed)             # DRAM buffers, aligned for every memory type
    k = b.uop_kernel([Uop(dst=0, src=0, wgt=0)])  # micro-ops go to DRAM too
    b.load_uop(k)                                 # LOAD UOP into the uop SRAM (compute queue)
    b.load(MemType.INP, sram=0, buf=x, y=1, x=4, stride=4, push_next=True)
    b.gemm(uop_bgn=0, uop_end=1, ..., pop_prev=True)
    b.finish()
    prog = b.build()

The builder only assembles; it checks encodings (field ranges) but not tokens or SRAM bounds:
the simulator reports those, naming the instruction index.
"""

from __future__ import annotations

import numpy as np

from hw_sim.config import HwConfig
from hw_sim.isa import (
    AluInsn,
    AluOp,
    FinishInsn,
    GemmInsn,
    Insn,
    IsaFieldError,
    MemInsn,
    MemType,
    Module,
    Opcode,
    Uop,
    encode,
    encode_uops,
)
from hw_sim.program import DramBuffer, Program, dram_alignment, mem_elem_bytes


def load_insn(
    mem_type: MemType,
    sram_base: int,
    dram_base: int,
    y: int,
    x: int,
    stride: int | None = None,
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    **deps: bool,
) -> MemInsn:
    """LOAD y rows of x elements (DRAM pitch `stride`, default x) from element `dram_base`
    into SRAM rows from `sram_base`; `pad` = (y_pad_0, y_pad_1, x_pad_0, x_pad_1)."""
    return MemInsn(
        opcode=Opcode.LOAD, mem_type=mem_type, sram_base=sram_base, dram_base=dram_base,
        y_size=y, x_size=x, x_stride=x if stride is None else stride,
        y_pad_0=pad[0], y_pad_1=pad[1], x_pad_0=pad[2], x_pad_1=pad[3], **deps,
    )  # fmt: skip


def store_insn(
    sram_base: int, dram_base: int, y: int, x: int, stride: int | None = None, **deps: bool
) -> MemInsn:
    """STORE y rows of x OUT elements from SRAM row `sram_base` to DRAM element `dram_base`."""
    return MemInsn(
        opcode=Opcode.STORE, mem_type=MemType.OUT, sram_base=sram_base, dram_base=dram_base,
        y_size=y, x_size=x, x_stride=x if stride is None else stride, **deps,
    )  # fmt: skip


def nop_insn(module: Module, **deps: bool) -> MemInsn:
    """A token-only instruction (x_size 0) on `module`'s queue, by VTA's conventions: LOAD INP
    on load, LOAD UOP on compute, STORE OUT on store."""
    if module == Module.LOAD:
        return MemInsn(opcode=Opcode.LOAD, mem_type=MemType.INP, **deps)
    if module == Module.COMPUTE:
        return MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP, **deps)
    if module == Module.STORE:
        return MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT, **deps)
    raise ValueError(f"no NOP on module {Module(module).name}")


class ProgramBuilder:
    """Collects DRAM buffers and instructions; `build()` returns the `Program`."""

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self.insns: list[Insn] = []
        self._chunks: list[tuple[int, np.ndarray]] = []  # (byte offset, uint8 data)
        self._top = 0
        self.buffers: dict[str, DramBuffer] = {}
        self._align = dram_alignment(cfg)

    # ----- DRAM --------------------------------------------------------------------------
    def _alloc(self, nbytes: int) -> int:
        off = self._top
        self._top = off + -(-max(nbytes, 1) // self._align) * self._align
        return off

    def buffer(
        self,
        name: str,
        data: np.ndarray | None = None,
        shape: tuple[int, ...] | None = None,
        dtype: str | np.dtype | None = None,
    ) -> DramBuffer:
        """Allocate a named DRAM buffer, initialized from `data` or zero-filled (shape+dtype)."""
        if name in self.buffers:
            raise ValueError(f"DRAM buffer {name!r} already exists")
        if data is not None:
            data = np.ascontiguousarray(data)
            shape, dtype = data.shape, data.dtype
        if shape is None or dtype is None:
            raise ValueError(f"buffer {name!r}: give data, or shape and dtype")
        buf = DramBuffer(name, 0, tuple(int(s) for s in shape), np.dtype(dtype).str)
        buf = DramBuffer(name, self._alloc(buf.nbytes), buf.shape, buf.dtype)
        if data is not None:
            self._chunks.append((buf.offset, data.view(np.uint8).reshape(-1)))
        self.buffers[name] = buf
        return buf

    def uop_kernel(self, uops: list[Uop] | np.ndarray, name: str | None = None) -> DramBuffer:
        """Place micro-ops in DRAM; returns their buffer (load it with `load_uop`)."""
        words = encode_uops(uops, self.cfg)
        return self.buffer(name or f"uops{len(self.buffers)}", data=words)

    # ----- instructions -------------------------------------------------------------------
    def emit(self, insn: Insn) -> int:
        """Append an instruction (its encoding is checked now); returns its index."""
        try:
            encode(insn, self.cfg)
        except IsaFieldError as e:
            raise IsaFieldError(f"instruction {len(self.insns)}: {e}") from None
        self.insns.append(insn)
        return len(self.insns) - 1

    def load(
        self,
        mem_type: MemType,
        sram: int,
        buf: DramBuffer | int,
        y: int,
        x: int,
        stride: int | None = None,
        pad: tuple[int, int, int, int] = (0, 0, 0, 0),
        elem_offset: int = 0,
        **deps: bool,
    ) -> int:
        """LOAD y rows of x elements (DRAM pitch `stride`) into SRAM rows from `sram`.

        `buf` is a DRAM buffer (its element index is derived) or a raw element index;
        `pad` = (y_pad_0, y_pad_1, x_pad_0, x_pad_1).
        """
        base = buf.elem(self.cfg, mem_type) if isinstance(buf, DramBuffer) else int(buf)
        return self.emit(load_insn(mem_type, sram, base + elem_offset, y, x, stride, pad, **deps))

    def load_uop(self, kernel: DramBuffer, sram: int = 0, **deps: bool) -> int:
        """LOAD a whole micro-op kernel into the uop SRAM at `sram` (compute queue)."""
        n = int(np.prod(kernel.shape))
        return self.load(MemType.UOP, sram, kernel, y=1, x=n, **deps)

    def store(
        self,
        sram: int,
        buf: DramBuffer | int,
        y: int,
        x: int,
        stride: int | None = None,
        elem_offset: int = 0,
        **deps: bool,
    ) -> int:
        """STORE y rows of x OUT elements to DRAM (low 8 bits of each accumulator)."""
        base = buf.elem(self.cfg, MemType.OUT) if isinstance(buf, DramBuffer) else int(buf)
        return self.emit(store_insn(sram, base + elem_offset, y, x, stride, **deps))

    def gemm(self, **fields) -> int:
        """GEMM; fields as `GemmInsn` (uop_bgn, uop_end, iter_out, ..., reset, deps)."""
        return self.emit(GemmInsn(**fields))

    def alu(self, op: AluOp, imm: int | None = None, **fields) -> int:
        """ALU op; with `imm` the immediate form, else tensor-tensor (src = ACC rows)."""
        if imm is not None:
            fields.update(use_imm=True, imm=imm)
        return self.emit(AluInsn(alu_op=op, **fields))

    def nop(self, module: Module, **deps: bool) -> int:
        """A token-only instruction on `module`'s queue (see `nop_insn`)."""
        return self.emit(nop_insn(module, **deps))

    def finish(self, **deps: bool) -> int:
        return self.emit(FinishInsn(**deps))

    # ----- result -------------------------------------------------------------------------
    def build(self, meta: dict | None = None) -> Program:
        dram = np.zeros(self._top, dtype=np.uint8)
        for off, data in self._chunks:
            dram[off : off + data.size] = data
        return Program(self.cfg, list(self.insns), dram, dict(self.buffers), dict(meta or {}))


__all__ = ["ProgramBuilder", "load_insn", "mem_elem_bytes", "nop_insn", "store_insn"]
