"""Hand-scheduled ALU programs (max pooling, nearest upsampling): the instruction stream they
share with the TE path's code generator — the micro-op cache, dependency tokens from the SRAM
rows each instruction touches (`insert_dep_tokens`), the final drain and FINISH — and the
compiled-operator interface the compile driver and the tests use.

Only the compute and store modules work: int8 operands are loaded into the accumulator by
`LOAD ACC_8BIT` on the compute queue, so the only shared SRAM is OUT (ALU writes, STORE reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from compiler.vta.deps import Access, StreamInsn, insert_dep_tokens
from compiler.vta.uop_cache import UopCache
from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.isa import AluInsn, AluOp, GemmInsn, MemInsn, MemType, Module, Opcode, Uop
from hw_sim.program import DramBuffer, Program

INT8_MIN = -128
MAX_FIELD = (1 << 16) - 1  # LOAD/STORE y_size, x_size, x_stride


@dataclass(frozen=True)
class TileKnobs:
    """The schedule of a hand-scheduled ALU operator: `tile_h` rows (output rows of a pool,
    input rows of an upsample) and `tile_c` channel blocks per tile; `threads` 1 or 2 (tiles
    alternate between two halves of the accumulator so a STORE overlaps the next tile)."""

    tile_h: int = 1
    tile_c: int = 1
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OutputName:
    """What the compile driver reads of an operator's output tensor: its DRAM buffer name."""

    name: str = "out"


@dataclass(kw_only=True)
class DriverFields:
    """What the compile driver reads of every accelerator operator, as a standalone ALU operator
    (max pool, upsample) has them: no bias, no accumulator inputs or epilogue steps; the driver
    fills `pack` / `unpack` when it lowers the group."""

    output: OutputName = field(default_factory=OutputName)
    bias_gemm: None = None
    alu_bias: bool = False
    acc_inputs: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    pack: dict = field(default_factory=dict)
    unpack: object = None


class AluStream:
    """Collects compute/store instructions with the rows they touch; `program()` finishes."""

    def __init__(self, cfg: HwConfig) -> None:
        self.cfg = cfg
        self.b = ProgramBuilder(cfg)
        self.stream: list[StreamInsn] = []
        self.cache = UopCache(cfg.uop_depth)
        self.kernels: dict[tuple, DramBuffer] = {}
        self.alu_uops = 0

    def run_tiles(self, blocks: tuple[int, int], rows: int, k: TileKnobs, meta: dict) -> Program:
        """Every tile and then `program(meta)`: batch blocks outermost, then `k.tile_c` channel
        blocks, then `k.tile_h` of the `rows` rows; with two threads, tiles alternate between
        the accumulator's halves (a STORE overlaps the next tile). The subclass's
        `tile(bn, c0, tc, r0, r, base)` emits one tile."""
        nb, cb = blocks
        half, t = self.cfg.acc_depth // k.threads, 0
        for bn in range(nb):
            for c0 in range(0, cb, k.tile_c):
                for r0 in range(0, rows, k.tile_h):
                    tc, r = min(k.tile_c, cb - c0), min(k.tile_h, rows - r0)
                    self.tile(bn, c0, tc, r0, r, (t % k.threads) * half)
                    t += 1
        return self.program(meta)

    def push(self, insn, queue: Module, accesses=()) -> None:
        self.stream.append(StreamInsn(insn, queue, tuple(accesses)))

    def _uop_kernel(self, key: tuple) -> int:
        """The micro-op SRAM row of kernel `key`, loading it (LOAD UOP) unless resident."""
        off, miss = self.cache.lookup(key)
        if miss:
            buf = self.kernels.get(key)
            if buf is None:
                buf = self.kernels[key] = self.b.uop_kernel(
                    [Uop(*u) for u in key], name=f"uops{len(self.kernels)}"
                )
            ld = MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP, sram_base=off,
                         dram_base=buf.elem(self.cfg, MemType.UOP), y_size=1, x_size=len(key),
                         x_stride=len(key))  # fmt: skip
            self.push(ld, Module.COMPUTE)
        return off

    def alu(self, op: AluOp, uops: list[tuple[int, int]], io, ii, dfo, dfi, sfo, sfi, imm=None):
        """One ALU instruction over micro-ops (dst, src) and the two loop levels (iterations,
        dst and src factors); the micro-op kernel is loaded unless it is resident."""
        key = tuple((d, s, 0) for d, s in uops)
        off = self._uop_kernel(key)
        insn = AluInsn(alu_op=op, use_imm=imm is not None, imm=imm or 0, uop_bgn=off,
                       uop_end=off + len(key), iter_out=io, iter_in=ii, dst_factor_out=dfo,
                       dst_factor_in=dfi, src_factor_out=sfo, src_factor_in=sfi)  # fmt: skip
        lo = min(d for d, _ in uops)
        hi = max(d for d, _ in uops) + (io - 1) * dfo + (ii - 1) * dfi + 1
        self.push(insn, Module.COMPUTE, [Access("OUT", lo, hi, True)])
        self.alu_uops += io * ii * len(uops)

    def reset(self, bases: list[int], rows: int, cols: int) -> None:
        """rows x cols accumulator rows from each base = 0: a GEMM reset, one cycle per row (half
        of `fill_min`); the rows must then be written by the ALU before a STORE reads them
        (HLS writes garbage to OUT on a reset, Chisel leaves OUT alone)."""
        key = tuple((b, 0, 0) for b in bases)
        off = self._uop_kernel(key)
        insn = GemmInsn(reset=True, uop_bgn=off, uop_end=off + len(key), iter_out=rows,
                        iter_in=cols, dst_factor_out=cols, dst_factor_in=1)  # fmt: skip
        hi = max(bases) + (rows - 1) * cols + cols
        self.push(insn, Module.COMPUTE, [Access("OUT", min(bases), hi, True)])

    def fill_min(self, bases: list[int], rows: int, cols: int) -> None:
        """rows x cols accumulator rows from each base = -128, whatever they held (MIN then
        MAX with the immediate)."""
        uops = [(b, b) for b in bases]
        for alu_op in (AluOp.MIN, AluOp.MAX):
            self.alu(alu_op, uops, rows, cols, cols, 1, cols, 1, imm=INT8_MIN)

    def load_int8(self, sram: list[int], dram: int, plane: int, rows: int) -> None:
        """`rows` contiguous int8 elements from DRAM element `dram` (+ `plane` per block) into
        the accumulator at each `sram` base (one 2-D LOAD when the pitch fits the field)."""
        n = len(sram)
        chunks = [(0, n)] if n == 1 or plane <= MAX_FIELD else [(i, 1) for i in range(n)]
        for i, k in chunks:
            ld = MemInsn(opcode=Opcode.LOAD, mem_type=MemType.ACC_8BIT, sram_base=sram[i],
                         dram_base=dram + i * plane, y_size=k, x_size=rows,
                         x_stride=plane if k > 1 else rows)  # fmt: skip
            self.push(ld, Module.COMPUTE, [Access("OUT", sram[i], sram[i] + k * rows, True)])

    def store(self, sram: int, dram: int, y: int, x: int, stride: int) -> None:
        st = MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT, sram_base=sram, dram_base=dram,
                     y_size=y, x_size=x, x_stride=stride)  # fmt: skip
        self.push(st, Module.STORE, [Access("OUT", sram, sram + y * x, False)])

    def program(self, meta: dict) -> Program:
        everything = [Access(m, 0, 1 << 30, True) for m in ("INP", "WGT", "OUT")]
        self.push(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP), Module.COMPUTE, everything)
        for insn in insert_dep_tokens(self.stream):
            self.b.emit(insn)
        self.b.finish()
        return self.b.build(meta)


@dataclass
class CompiledAluOp:
    """A compiled hand-scheduled operator (the interface of `compiler.vta.build.CompiledKernel`
    that the compile driver and the tests use): input buffer `data`, output buffer `out`."""

    program: Program
    op: object
    knobs: object
    compile_seconds: float
    alu_uops: int

    @property
    def output_name(self) -> str:
        return "out"

    def pack_inputs(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        if set(arrays) != {"data"}:
            raise ValueError(f"{self.op.name}: the input is `data`, got {', '.join(arrays)}")
        return {"data": self.op.pack["data"](np.asarray(arrays["data"]))["data"].astype(np.int8)}

    def run(self, device, **arrays: np.ndarray):
        device.load(self.program)
        for name, a in self.pack_inputs(**arrays).items():
            device.write(name, a)
        stats = device.run()
        return self.op.unpack(device.read("out")), stats


def build_tiled(op, cfg: HwConfig, knobs, gen_cls, tile_rows: Callable) -> CompiledAluOp:
    """Compile a tiled ALU operator: check that `knobs.threads` tiles of `tile_rows(op, knobs)`
    accumulator rows fit the SRAM, then run its generator (`gen_cls(op, cfg, knobs).run`)."""
    t0 = time.perf_counter()
    need = knobs.threads * tile_rows(op, knobs)
    if need > cfg.acc_depth:
        raise ValueError(f"{op.name}: tiles {knobs} need {need} accumulator rows, the SRAM has "
                         f"{cfg.acc_depth}")  # fmt: skip
    gen = gen_cls(op, cfg, knobs)
    prog = gen.run({"op": op.name, "knobs": knobs.to_dict()})
    return CompiledAluOp(prog, op, knobs, time.perf_counter() - t0, gen.alu_uops)
