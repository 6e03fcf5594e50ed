"""A compiled loop for ALU micro-op sequences that must run one micro-op at a time.

When a destination row repeats or a micro-op reads a row an earlier one wrote, the ALU's
sequential meaning cannot be reproduced by one vectorized NumPy update. Running those micro-ops
one by one from Python cost ~3 µs each; this loop does the same in machine code (a few ns per
micro-op), so the simulator's speed does not depend on whether a legal loop aliases.

    for k < n:  ACC[dst[k]] = op(ACC[dst[k]], imm if use_imm else ACC[src[k]])   (per lane)

The lane semantics are those of `hw_sim.functional.alu_apply` (the executable spec; the tests
compare the two): MIN/MAX signed, ADD/MUL wrapping, SHR arithmetic by b in 0..31 (b >= 32 gives
the sign bits), by b < 0 a left shift by -b (-b >= 32 gives 0). The indices must already be
range-checked (the plan's checks). The kernel goes through the project's one LLVM JIT
(`compiler.llvm.jit`, object-cached on disk), so llvmlite stays imported in one module.
"""

from __future__ import annotations

import ctypes

import numpy as np

from hw_sim.isa import AluOp

_IR = """
define void @__VTACSYM__alu_seq(i32* %acc, i64* %dst, i64* %src, i64 %n, i64 %lanes,
                                i32 %op, i32 %use_imm, i32 %imm) nounwind {
entry:
  %empty = icmp eq i64 %n, 0
  %imm_mode = icmp ne i32 %use_imm, 0
  br i1 %empty, label %done, label %uop
uop:
  %k = phi i64 [0, %entry], [%k1, %next]
  %dp = getelementptr i64, i64* %dst, i64 %k
  %d = load i64, i64* %dp
  %sp = getelementptr i64, i64* %src, i64 %k
  %s = load i64, i64* %sp
  %dbase = mul i64 %d, %lanes
  %sbase = mul i64 %s, %lanes
  br label %lane
lane:
  %l = phi i64 [0, %uop], [%l1, %lane]
  %di = add i64 %dbase, %l
  %si = add i64 %sbase, %l
  %ap = getelementptr i32, i32* %acc, i64 %di
  %bp = getelementptr i32, i32* %acc, i64 %si
  %a = load i32, i32* %ap
  %bt = load i32, i32* %bp
  %b = select i1 %imm_mode, i32 %imm, i32 %bt
  %lt = icmp slt i32 %a, %b
  %vmin = select i1 %lt, i32 %a, i32 %b
  %vmax = select i1 %lt, i32 %b, i32 %a
  %vadd = add i32 %a, %b
  %vmul = mul i32 %a, %b
  %bneg = icmp slt i32 %b, 0
  %bbig = icmp sgt i32 %b, 31
  %ramt0 = select i1 %bbig, i32 31, i32 %b
  %ramt = select i1 %bneg, i32 0, i32 %ramt0
  %vright = ashr i32 %a, %ramt
  %lamt = sub i32 0, %b
  %lbig = icmp ugt i32 %lamt, 31
  %lamt1 = select i1 %lbig, i32 0, i32 %lamt
  %vl0 = shl i32 %a, %lamt1
  %vleft = select i1 %lbig, i32 0, i32 %vl0
  %vshr = select i1 %bneg, i32 %vleft, i32 %vright
  %is_min = icmp eq i32 %op, 0
  %is_max = icmp eq i32 %op, 1
  %is_add = icmp eq i32 %op, 2
  %is_shr = icmp eq i32 %op, 3
  %r3 = select i1 %is_shr, i32 %vshr, i32 %vmul
  %r2 = select i1 %is_add, i32 %vadd, i32 %r3
  %r1 = select i1 %is_max, i32 %vmax, i32 %r2
  %r = select i1 %is_min, i32 %vmin, i32 %r1
  store i32 %r, i32* %ap
  %l1 = add i64 %l, 1
  %more = icmp ult i64 %l1, %lanes
  br i1 %more, label %lane, label %next
next:
  %k1 = add i64 %k, 1
  %again = icmp ult i64 %k1, %n
  br i1 %again, label %uop, label %done
done:
  ret void
}
"""

_FN = ctypes.CFUNCTYPE(
    None,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
)  # fmt: skip
_kernel = None


def _compiled():
    global _kernel
    if _kernel is None:
        from compiler.llvm.codegen import ModuleCode, StageInfo
        from compiler.llvm.jit import compile_module

        code = ModuleCode(_IR, (StageInfo("__VTACSYM__alu_seq", None),), ())
        (addr,) = compile_module(code, name="hw_sim_alu_seq")
        _kernel = _FN(addr)
    return _kernel


def run_sequential(
    acc: np.ndarray, op: AluOp, dst: np.ndarray, src: np.ndarray, imm: int | None
) -> None:
    """ACC[dst[k]] = op(ACC[dst[k]], imm or ACC[src[k]]) for k in order, in place.

    `acc` is the C-contiguous int32 (rows, lanes...) accumulator; `dst`/`src` int64 row indices
    (range-checked by the caller)."""
    if not (acc.flags.c_contiguous and acc.dtype == np.int32):
        raise ValueError("acc must be a C-contiguous int32 array")
    d = np.ascontiguousarray(dst, dtype=np.int64)
    s = d if imm is not None else np.ascontiguousarray(src, dtype=np.int64)
    if len(s) != len(d):
        raise ValueError("dst and src differ in length")
    lanes = acc[0].size if len(acc) else 0
    _compiled()(
        acc.ctypes.data, d.ctypes.data, s.ctypes.data, len(d), lanes,
        int(op), imm is not None, 0 if imm is None else int(imm),
    )  # fmt: skip
