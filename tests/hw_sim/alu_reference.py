"""An ALU reference independent of `hw_sim.functional.alu_apply`: plain Python integers, one
micro-op and one lane at a time, straight from the ISA's pseudo-loop (docs/isa.md)."""

from __future__ import annotations

import numpy as np

from hw_sim.isa import AluOp


def wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def py_alu(op: AluOp, x: int, y: int) -> int:
    """One int32 lane: MIN/MAX signed, ADD/MUL wrapping, SHR arithmetic (negative: left)."""
    if op == AluOp.MIN:
        return min(x, y)
    if op == AluOp.MAX:
        return max(x, y)
    if op == AluOp.ADD:
        return wrap32(x + y)
    if op == AluOp.MUL:
        return wrap32(x * y)
    return x >> min(y, 31) if y >= 0 else wrap32(x << min(-y, 32))


def loop_indices(insn):
    """(dst, src) of every micro-op of the loop, in execution order, from the UOP rows given."""
    for o in range(insn.iter_out):
        for i in range(insn.iter_in):
            for u in range(insn.uop_bgn, insn.uop_end):
                yield o, i, u


def reference_alu(st, insn) -> tuple[np.ndarray, np.ndarray]:
    """(ACC, OUT) after the ALU loop `insn` on the state `st` (not modified)."""
    lanes = st.acc[0].size
    acc = [row.reshape(-1).tolist() for row in st.acc]
    out = st.out.copy()
    for o, i, u in loop_indices(insn):
        d0, s0, _ = (int(v) for v in st.uop[u])
        d = d0 + o * insn.dst_factor_out + i * insn.dst_factor_in
        s = s0 + o * insn.src_factor_out + i * insn.src_factor_in
        operand = [insn.imm] * lanes if insn.use_imm else list(acc[s])
        acc[d] = [py_alu(insn.alu_op, x, y) for x, y in zip(acc[d], operand, strict=True)]
        out[d] = np.array(acc[d], np.int64).astype(np.int8).reshape(out[d].shape)
    return np.array(acc, np.int64).astype(np.int32).reshape(st.acc.shape), out
