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


def _ir(lanes: int) -> str:
    """The loop for rows of `lanes` int32 lanes: each micro-op loads, computes and stores a
    whole row as one <lanes x i32> vector (rows are either the same or disjoint, so a vector
    load of both operands before the store keeps the per-lane semantics)."""
    v = f"<{lanes} x i32>"
    vb = f"<{lanes} x i1>"

    def splat(c: int) -> str:
        return "<" + ", ".join([f"i32 {c}"] * lanes) + ">"

    return f"""
define void @__VTACSYM__alu_seq(i32* %acc, i64* %udst, i64* %usrc, i64 %nu, i64 %n_in,
                                i64 %n, i64 %dfo, i64 %dfi, i64 %sfo, i64 %sfi,
                                i32 %op, i32 %use_imm, i32 %imm) nounwind {{
entry:
  %empty = icmp eq i64 %n, 0
  %imm_mode = icmp ne i32 %use_imm, 0
  %i0 = insertelement {v} undef, i32 %imm, i32 0
  %immv = shufflevector {v} %i0, {v} undef, <{lanes} x i32> zeroinitializer
  %is_min = icmp eq i32 %op, 0
  %is_max = icmp eq i32 %op, 1
  %is_add = icmp eq i32 %op, 2
  %is_shr = icmp eq i32 %op, 3
  br i1 %empty, label %done, label %uop
uop:
  %k = phi i64 [0, %entry], [%k1, %uop]
  %u = phi i64 [0, %entry], [%u_n, %uop]
  %i = phi i64 [0, %entry], [%i_n, %uop]
  %bd = phi i64 [0, %entry], [%bd_n, %uop]
  %bs = phi i64 [0, %entry], [%bs_n, %uop]
  %od = phi i64 [0, %entry], [%od_n, %uop]
  %os = phi i64 [0, %entry], [%os_n, %uop]
  %dp = getelementptr i64, i64* %udst, i64 %u
  %d0 = load i64, i64* %dp
  %sp = getelementptr i64, i64* %usrc, i64 %u
  %s0 = load i64, i64* %sp
  %d = add i64 %d0, %bd
  %s = add i64 %s0, %bs
  %dbase = mul i64 %d, {lanes}
  %sbase = mul i64 %s, {lanes}
  %ap0 = getelementptr i32, i32* %acc, i64 %dbase
  %bp0 = getelementptr i32, i32* %acc, i64 %sbase
  %ap = bitcast i32* %ap0 to {v}*
  %bp = bitcast i32* %bp0 to {v}*
  %a = load {v}, {v}* %ap, align 4
  %bt = load {v}, {v}* %bp, align 4
  %b = select i1 %imm_mode, {v} %immv, {v} %bt
  %lt = icmp slt {v} %a, %b
  %vmin = select {vb} %lt, {v} %a, {v} %b
  %vmax = select {vb} %lt, {v} %b, {v} %a
  %vadd = add {v} %a, %b
  %vmul = mul {v} %a, %b
  %bneg = icmp slt {v} %b, {splat(0)}
  %bbig = icmp sgt {v} %b, {splat(31)}
  %ramt0 = select {vb} %bbig, {v} {splat(31)}, {v} %b
  %ramt = select {vb} %bneg, {v} {splat(0)}, {v} %ramt0
  %vright = ashr {v} %a, %ramt
  %lamt = sub {v} {splat(0)}, %b
  %lbig = icmp ugt {v} %lamt, {splat(31)}
  %lamt1 = select {vb} %lbig, {v} {splat(0)}, {v} %lamt
  %vl0 = shl {v} %a, %lamt1
  %vleft = select {vb} %lbig, {v} {splat(0)}, {v} %vl0
  %vshr = select {vb} %bneg, {v} %vleft, {v} %vright
  %r3 = select i1 %is_shr, {v} %vshr, {v} %vmul
  %r2 = select i1 %is_add, {v} %vadd, {v} %r3
  %r1 = select i1 %is_max, {v} %vmax, {v} %r2
  %r = select i1 %is_min, {v} %vmin, {v} %r1
  store {v} %r, {v}* %ap, align 4
  ; next (o, i, u): u wraps into i, i into o; row offsets follow as running sums
  %u1 = add i64 %u, 1
  %wu = icmp eq i64 %u1, %nu
  %i1 = add i64 %i, 1
  %wi0 = icmp eq i64 %i1, %n_in
  %wi = and i1 %wu, %wi0
  %od1 = add i64 %od, %dfo
  %os1 = add i64 %os, %sfo
  %od_n = select i1 %wi, i64 %od1, i64 %od
  %os_n = select i1 %wi, i64 %os1, i64 %os
  %u_n = select i1 %wu, i64 0, i64 %u1
  %i_w = select i1 %wi0, i64 0, i64 %i1
  %i_n = select i1 %wu, i64 %i_w, i64 %i
  %bd1 = add i64 %bd, %dfi
  %bs1 = add i64 %bs, %sfi
  %bd_w = select i1 %wi0, i64 %od_n, i64 %bd1
  %bs_w = select i1 %wi0, i64 %os_n, i64 %bs1
  %bd_n = select i1 %wu, i64 %bd_w, i64 %bd
  %bs_n = select i1 %wu, i64 %bs_w, i64 %bs
  %k1 = add i64 %k, 1
  %again = icmp ult i64 %k1, %n
  br i1 %again, label %uop, label %done
done:
  ret void
}}
"""


_I64 = ctypes.c_int64
_FN = ctypes.CFUNCTYPE(
    None,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    _I64,
    _I64,
    _I64,
    _I64,
    _I64,
    _I64,
    _I64,
    ctypes.c_int32,
    ctypes.c_int32,
    ctypes.c_int32,
)
_kernels: dict[int, object] = {}  # lanes -> compiled loop


def _compiled(lanes: int):
    if lanes not in _kernels:
        from compiler.llvm.codegen import ModuleCode, StageInfo
        from compiler.llvm.jit import compile_module

        code = ModuleCode(_ir(lanes), (StageInfo("__VTACSYM__alu_seq", None),), ())
        (addr,) = compile_module(code, name=f"hw_sim_alu_seq_{lanes}")
        _kernels[lanes] = _FN(addr)
    return _kernels[lanes]


def run_sequential(
    acc: np.ndarray, op: AluOp, dst: np.ndarray, src: np.ndarray, imm: int | None
) -> None:
    """ACC[dst[k]] = op(ACC[dst[k]], imm or ACC[src[k]]) for k in order, in place.

    `acc` is the C-contiguous int32 (rows, lanes...) accumulator; `dst`/`src` int64 row indices
    (range-checked by the caller)."""
    run_loop(acc, op, dst, src, 1, 1, (0, 0, 0, 0), imm)


def run_loop(
    acc: np.ndarray,
    op: AluOp,
    uop_dst: np.ndarray,
    uop_src: np.ndarray,
    iter_out: int,
    iter_in: int,
    factors: tuple[int, int, int, int],
    imm: int | None,
) -> None:
    """The whole two-level ALU loop in machine code, without materializing its indices:
    for o < iter_out, i < iter_in, u: d = uop_dst[u] + o*f[0] + i*f[1], s = uop_src[u] +
    o*f[2] + i*f[3] (f = dst_factor_out, dst_factor_in, src_factor_out, src_factor_in)."""
    if not (acc.flags.c_contiguous and acc.dtype == np.int32):
        raise ValueError("acc must be a C-contiguous int32 array")
    d = np.ascontiguousarray(uop_dst, dtype=np.int64)
    s = np.ascontiguousarray(uop_src, dtype=np.int64)
    if len(s) != len(d):
        raise ValueError("dst and src differ in length")
    n = len(d) * iter_out * iter_in
    if not len(acc) or not n:
        return
    _compiled(acc[0].size)(
        acc.ctypes.data, d.ctypes.data, s.ctypes.data, len(d), iter_in, n, *factors,
        int(op), imm is not None, 0 if imm is None else int(imm),
    )  # fmt: skip
