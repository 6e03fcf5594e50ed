"""VTA code generation: final loop IR → instruction stream + micro-op kernels + DRAM layout.

The loops left in the IR are unrolled at compile time (VTA's runtime builds its instruction
stream the same way, just in time): every intrinsic becomes one instruction with its fields
evaluated for the current loop indices. Micro-op kernels are evaluated into micro-op lists and
kept in the micro-op SRAM by a cache (FIFO placement, wrapping to row 0 when full); a `LOAD UOP`
is emitted only for a kernel that is not resident. Each distinct kernel is stored once in DRAM.
Every parameter of the function becomes a named DRAM buffer of its packed shape. Dependency
tokens are added by `insert_dep_tokens`; the stream ends with a compute NOP that waits for all
loads and stores, then FINISH.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from compiler.tir.affine import free_vars
from compiler.tir.nodes import Allocate, Attr, Evaluate, For, IfThenElse, PrimFunc, Seq
from compiler.vta.deps import Access, StreamInsn, insert_dep_tokens
from compiler.vta.exprcomp import compile_expr, compile_exprs
from compiler.vta.nest import VtaPassError, perfect_nest
from compiler.vta.uop import UopKernel
from compiler.vta.uop_cache import UopCache
from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.isa import AluInsn, FinishInsn, GemmInsn, MemInsn, MemType, Module, Opcode, Uop
from hw_sim.program import Program


@dataclass
class CodegenStats:
    """What code generation produced, and how long its two steps took."""

    uop_kernels: int = 0
    uop_loads: int = 0
    instructions: int = 0
    per_kind: dict = field(default_factory=dict)
    stream_seconds: float = 0.0  # unrolling the loop IR into the instruction stream
    deps_seconds: float = 0.0  # insert_dep_tokens on that stream


def _span(base_vals: list[int], fo: int, fi: int, io: int, ii: int) -> tuple[int, int]:
    lo = min(base_vals) + min(0, fo * (io - 1)) + min(0, fi * (ii - 1))
    hi = max(base_vals) + max(0, fo * (io - 1)) + max(0, fi * (ii - 1)) + 1
    return lo, hi


class VtaCodegen:
    def __init__(self, func: PrimFunc, cfg: HwConfig):
        self.func = func
        self.cfg = cfg
        self.b = ProgramBuilder(cfg)
        self.params = [
            self.b.buffer(p.name, shape=tuple(int(s) for s in p.shape), dtype=p.dtype)
            for p in func.params
        ]
        self.stream: list[StreamInsn] = []
        self.env: dict = {}
        self._fn: dict[int, object] = {}
        self._kernels: dict[tuple, tuple] = {}
        self._kernel_dram: dict[tuple, object] = {}
        self._free: dict[int, list] = {}
        self.cache = UopCache(cfg.uop_depth)
        self.stats = CodegenStats()
        self._bases: dict = {}

    def ev_args(self, call) -> tuple:
        f = self._fn.get(id(call))
        if f is None:
            f = self._fn[id(call)] = compile_exprs(call.args)
        return f(self.env)

    def _base(self, param: int, mem: MemType) -> int:
        key = (param, mem)
        b = self._bases.get(key)
        if b is None:
            b = self._bases[key] = self.params[param].elem(self.cfg, mem)
        return b

    def ev(self, e) -> int:
        """The value of expression `e` at the current loop indices."""
        return self._compile(e)(self.env)

    # ----- traversal ----------------------------------------------------------------------
    def walk(self, s) -> None:
        if isinstance(s, Seq):
            for x in s.stmts:
                self.walk(x)
        elif isinstance(s, For):
            lo, n = self.ev(s.min), self.ev(s.extent)
            for v in range(lo, lo + n):
                self.env[s.var] = v
                self.walk(s.body)
        elif isinstance(s, Allocate):
            self.walk(s.body)
        elif isinstance(s, Attr):
            if s.key == "vta.uop_kernel":
                self.emit_kernel(s)
            else:
                self.walk(s.body)
        elif isinstance(s, IfThenElse):
            if self.ev(s.cond):
                self.walk(s.then_case)
            elif s.else_case is not None:
                self.walk(s.else_case)
        elif isinstance(s, Evaluate):
            name = getattr(s.value, "name", "")
            if name == "vta.load_2d":
                self.emit_load(self.ev_args(s.value))
            elif name == "vta.store_2d":
                self.emit_store(self.ev_args(s.value))
            else:
                raise VtaPassError(f"codegen: unexpected call {name!r} outside a micro-op kernel")
        else:
            raise VtaPassError(
                f"codegen: {type(s).__name__} left in the IR (a store not turned into an "
                "accelerator intrinsic: is a stage missing its dma_copy/alu pragma?)"
            )

    def _push(self, insn, queue: Module, accesses=()):
        self.stream.append(StreamInsn(insn, queue, tuple(accesses)))
        k = type(insn).__name__
        self.stats.per_kind[k] = self.stats.per_kind.get(k, 0) + 1

    # ----- DMA ----------------------------------------------------------------------------
    def emit_load(self, args) -> None:
        mem, sram, param, dram, y, x, stride, yp0, yp1, xp0, xp1 = args
        mem = MemType(mem)
        base = self._base(param, mem)
        insn = MemInsn(
            opcode=Opcode.LOAD,
            mem_type=mem,
            sram_base=sram,
            dram_base=base + dram,
            y_size=y,
            x_size=x,
            x_stride=stride,
            y_pad_0=yp0,
            y_pad_1=yp1,
            x_pad_0=xp0,
            x_pad_1=xp1,
        )
        rows = (yp0 + y + yp1) * (xp0 + x + xp1)
        if mem in (MemType.INP, MemType.WGT):
            self._push(insn, Module.LOAD, [Access(mem.name, sram, sram + rows, True)])
        elif mem in (MemType.ACC, MemType.ACC_8BIT):
            # ACC rows share OUT's index space; fsim's STORE reads ACC, so a LOAD ACC into rows a
            # STORE still reads is a write-after-read conflict on every implementation but Chisel
            self._push(insn, Module.COMPUTE, [Access("OUT", sram, sram + rows, True)])
        else:
            self._push(insn, Module.COMPUTE)

    def emit_store(self, args) -> None:
        sram, param, dram, y, x, stride = args
        base = self._base(param, MemType.OUT)
        insn = MemInsn(
            opcode=Opcode.STORE,
            mem_type=MemType.OUT,
            sram_base=sram,
            dram_base=base + dram,
            y_size=y,
            x_size=x,
            x_stride=stride,
        )
        self._push(insn, Module.STORE, [Access("OUT", sram, sram + y * x, False)])

    # ----- micro-op kernels -------------------------------------------------------------------
    def _uops(self, attr: Attr) -> tuple:
        free = self._free.get(id(attr))
        if free is None:
            free = self._free[id(attr)] = free_vars(attr.body)
        key = (id(attr), tuple(self.env[v] for v in free))
        hit = self._kernels.get(key)
        if hit is not None:
            return hit
        loops, ev = perfect_nest(attr.body)
        fargs = self._compile(ev.value.args)
        env = self.env
        ranges = [range(self.ev(lp.min), self.ev(lp.min) + self.ev(lp.extent)) for lp in loops]
        out = []
        lvars = [lp.var for lp in loops]
        for vals in itertools.product(*ranges):
            for v, x in zip(lvars, vals, strict=True):
                env[v] = x
            out.append(fargs(env))
        res = self._kernels[key] = tuple(out)
        return res

    def _compile(self, e):
        """`e` compiled to a closure over the loop environment (once per IR node)."""
        f = self._fn.get(id(e))
        if f is None:
            f = self._fn[id(e)] = compile_expr(e)
        return f

    def emit_kernel(self, attr: Attr) -> None:
        k: UopKernel = attr.value
        uops = self._uops(attr)
        off, miss = self.cache.lookup(uops)
        if miss:
            dram = self._kernel_dram.get(uops)
            if dram is None:
                dram = self._kernel_dram[uops] = self.b.uop_kernel(
                    [Uop(*u) for u in uops], name=f"uops{len(self._kernel_dram)}"
                )
                self.stats.uop_kernels += 1
            insn = MemInsn(
                opcode=Opcode.LOAD,
                mem_type=MemType.UOP,
                sram_base=off,
                dram_base=dram.elem(self.cfg, MemType.UOP),
                y_size=1,
                x_size=len(uops),
                x_stride=len(uops),
            )
            self._push(insn, Module.COMPUTE)
            self.stats.uop_loads += 1
        common = dict(
            uop_bgn=off,
            uop_end=off + len(uops),
            iter_out=k.iter_out,
            iter_in=k.iter_in,
            dst_factor_out=k.dst_factor_out,
            dst_factor_in=k.dst_factor_in,
            src_factor_out=k.src_factor_out,
            src_factor_in=k.src_factor_in,
        )
        io, ii = k.iter_out, k.iter_in
        dst = _span([u[0] for u in uops], k.dst_factor_out, k.dst_factor_in, io, ii)
        if k.mode == "gemm":
            insn = GemmInsn(
                reset=k.reset,
                wgt_factor_out=k.wgt_factor_out,
                wgt_factor_in=k.wgt_factor_in,
                **common,
            )
            # A reset writes its rows too: HLS writes OUT, and fsim's STORE reads the zeroed ACC
            acc = [Access("OUT", *dst, True)]
            if not k.reset:
                src = _span([u[1] for u in uops], k.src_factor_out, k.src_factor_in, io, ii)
                wgt = _span([u[2] for u in uops], k.wgt_factor_out, k.wgt_factor_in, io, ii)
                acc = [
                    Access("INP", *src, False),
                    Access("WGT", *wgt, False),
                    Access("OUT", *dst, True),
                ]
            self._push(insn, Module.COMPUTE, acc)
        else:
            a = k.alu
            insn = AluInsn(alu_op=a.op, use_imm=a.use_imm, imm=a.imm, **common)
            self._push(insn, Module.COMPUTE, [Access("OUT", *dst, True)])

    # ----- whole program --------------------------------------------------------------------
    def run(self, meta: dict | None = None) -> Program:
        t0 = time.perf_counter()
        self.walk(self.func.body)
        # drain: a compute NOP that conflicts with every load and store, so it waits for all
        everything = [Access(m, 0, 1 << 30, True) for m in ("INP", "WGT", "OUT")]
        self._push(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP), Module.COMPUTE, everything)
        t1 = time.perf_counter()
        insns = insert_dep_tokens(self.stream)
        self.stats.stream_seconds = t1 - t0
        self.stats.deps_seconds = time.perf_counter() - t1
        for insn in insns:
            self.b.emit(insn)
        self.b.finish()
        self.stats.instructions = len(self.b.insns)
        return self.b.build(meta)


def generate(
    func: PrimFunc, cfg: HwConfig, meta: dict | None = None
) -> tuple[Program, CodegenStats]:
    """Program (instructions, micro-ops, DRAM buffers named after the parameters) for `func`."""
    cg = VtaCodegen(func, cfg)
    try:
        prog = cg.run(meta)
    except VtaPassError as e:
        e.add_note(f"in the code generator, function {func.name}")
        raise
    return prog, cg.stats


__all__ = ["FinishInsn", "UopCache", "VtaCodegen", "generate"]
