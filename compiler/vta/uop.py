"""Pass `fold_uop_loops`: micro-op loop nests → micro-op kernels with two hardware loop levels.

A GEMM/ALU intrinsic sits in a perfect nest of row loops (outside its `vta.gemm` region, or inside
its `vta.alu` region). Unit loops are dropped. Of the remaining loops, the two outermost that
are kept in the kernel become the instruction's `iter_out`/`iter_in` with constant index factors
(so the instruction runs `iter_out * iter_in * len(kernel)` micro-ops); loops inside them are
unrolled into the kernel's micro-op list by the code generator; loops outside stay code-generator
loops (one instruction each) when unrolling them would exceed `uop_kernel_budget(cfg)` micro-ops,
or when the instruction would write a destination row one of the two micro-ops before it wrote
(`intrin.waw_free`: HLS's accumulator pipeline relies on it; a tile with fewer than three output
rows then runs one reduction step per instruction).

    attr vta.uop_kernel = UopKernel(...):  for unrolled...: vta.uop(dst, src, wgt)
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.tir.affine import linear_form
from compiler.tir.nodes import Allocate, Attr, Const, For, IfThenElse, PrimFunc, Seq, seq
from compiler.vta.alu_gemm import AluSpec, GemmSpec
from compiler.vta.intrin import uop_fold_split, uop_kernel_budget
from compiler.vta.nest import VtaPassError, drop_unit_loops, perfect_nest, subst, wrap_loops
from hw_sim.config import HwConfig


@dataclass(frozen=True)
class UopKernel:
    """What one GEMM/ALU instruction needs besides its micro-ops."""

    mode: str  # "gemm" | "alu"
    reset: bool = False
    alu: AluSpec | None = None
    iter_out: int = 1
    iter_in: int = 1
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0
    wgt_factor_out: int = 0
    wgt_factor_in: int = 0

    def __repr__(self) -> str:
        op = ("reset" if self.reset else "gemm") if self.mode == "gemm" else repr(self.alu)
        return (
            f"{op} iter=({self.iter_out}, {self.iter_in}) "
            f"dst=({self.dst_factor_out}, {self.dst_factor_in}) "
            f"src=({self.src_factor_out}, {self.src_factor_in}) "
            f"wgt=({self.wgt_factor_out}, {self.wgt_factor_in})"
        )


def _factor(e, var) -> int:
    lf = linear_form(e, [var])
    if lf is None:
        raise VtaPassError("fold_uop_loops: a micro-op index is not affine in its loop")
    return lf[0].get(var, 0)


def _fold(outer_loops: list[For], spec_attr: Attr, cfg: HwConfig, gemm_split: int = 0):
    inner_loops, ev = perfect_nest(spec_attr.body)
    loops, unit = drop_unit_loops(outer_loops + inner_loops)
    call = subst(ev, unit)
    dst, src, wgt = call.value.args
    dst_factors = []
    for lp in loops:
        lf = linear_form(dst, [lp.var])
        dst_factors.append(lf[0].get(lp.var, 0) if lf is not None else None)
    exts = [int(lp.extent.value) for lp in loops]
    p = uop_fold_split(exts, uop_kernel_budget(cfg), dst_factors)
    spec = spec_attr.value
    if isinstance(spec, GemmSpec) and not spec.reset:  # the schedule's `uop_split` knob
        p = min(max(0, p + gemm_split), len(loops))
    gen, folded, unrolled = loops[:p], loops[p : p + 2], loops[p + 2 :]
    if len(folded) == 1:
        folded = [None, folded[0]]
    elif not folded:
        folded = [None, None]
    f = {}
    for lvl, lp in zip(("out", "in"), folded, strict=True):
        f[f"iter_{lvl}"] = int(lp.extent.value) if lp is not None else 1
        for name, e in (("dst", dst), ("src", src), ("wgt", wgt)):
            f[f"{name}_factor_{lvl}"] = _factor(e, lp.var) if lp is not None else 0
    zero = {lp.var: Const(0) for lp in folded if lp is not None}
    call = subst(call, zero)
    if isinstance(spec, GemmSpec):
        kernel = UopKernel("gemm", reset=spec.reset, **f)
    else:
        kernel = UopKernel("alu", alu=spec, **f)
    return wrap_loops(gen, Attr("vta.uop_kernel", kernel, wrap_loops(unrolled, call)))


def fold_uop_loops(func: PrimFunc, cfg: HwConfig, gemm_split: int = 0) -> PrimFunc:
    """Fold every micro-op nest; `gemm_split` shifts the cut of non-reset GEMM nests by that
    many loops (negative: a longer kernel and fewer instructions)."""

    def rw(s):
        if isinstance(s, For):
            loops, leaf = perfect_nest(s)
            if isinstance(leaf, Attr) and leaf.key == "vta.gemm":
                # the GEMM's row loops are outside its region
                return _fold(loops, leaf, cfg, gemm_split)
            if isinstance(leaf, Attr) and leaf.key == "vta.alu":
                return wrap_loops(loops, _fold([], leaf, cfg))  # the ALU's are inside
            return For(s.var, s.min, s.extent, s.kind, rw(s.body), s.annotations)
        if isinstance(s, Attr):
            if s.key in ("vta.gemm", "vta.alu"):
                return _fold([], s, cfg, gemm_split)
            return Attr(s.key, s.value, rw(s.body))
        if isinstance(s, Seq):
            return seq(*[rw(x) for x in s.stmts])
        if isinstance(s, Allocate):
            return Allocate(s.buffer, rw(s.body))
        if isinstance(s, IfThenElse):
            return IfThenElse(
                s.cond, rw(s.then_case), rw(s.else_case) if s.else_case is not None else None
            )
        return s

    return PrimFunc(func.name, func.params, rw(func.body), func.attrs)
