"""Pass `pingpong_accumulator`: consecutive output tiles alternate between two accumulator halves.

A tile's reset (and its first GEMM) writes the rows the previous tile's STORE reads, so it waits
for that STORE (`insert_dep_tokens`); with one accumulator tile per thread the compute module
idles while the previous tile drains to DRAM. When the accumulator SRAM has room, the stored
accumulator buffer gets a leading dimension of 2, indexed by the parity of the tile's position
in its enclosing loops: tile k+1 resets the other half, whose STORE (tile k-1) finished long
ago, and computes while tile k's STORE runs — the ping-pong VTA uses for inputs, applied to the
accumulator. Other accumulator buffers (bias, residual tiles) are not stored and stay single.
Applies only without virtual threads (with two, each thread already alternates with the other
and `sink_gemm_reset` hides the wait; four copies measured slower: twice the micro-op
kernels) and only if the doubled buffer still fits the SRAM; otherwise the function is returned
unchanged.
"""

from __future__ import annotations

from compiler.tir.nodes import (
    Allocate,
    Attr,
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    Load,
    PrimFunc,
    Seq,
    Store,
)
from compiler.tir.visit import Mutator, walk
from compiler.vta.intrin import ACC
from compiler.vta.nest import ReplaceBuffers, rows_of
from hw_sim.config import HwConfig


def _stored_accumulators(func: PrimFunc) -> set[int]:
    """Accumulator buffers a STORE (a copy into a global buffer) reads."""
    out = set()
    for n in walk(func.body):
        if isinstance(n, Store) and n.buffer.scope == "global":
            out |= {
                id(x.buffer) for x in walk(n.value) if isinstance(x, Load) and x.buffer.scope == ACC
            }
    return out


def _acc_rows(stmt, stored: set[int], mult: int = 1) -> tuple[int, int]:
    """(accumulator rows allocated, rows of the stored ones), counting virtual-thread copies."""
    if isinstance(stmt, For):
        if stmt.kind == ForKind.VIRTUAL_THREAD:
            mult *= int(stmt.extent.value)
        return _acc_rows(stmt.body, stored, mult)
    if isinstance(stmt, Allocate):
        t, e = _acc_rows(stmt.body, stored, mult)
        if stmt.buffer.scope == ACC:
            t += mult * rows_of(stmt.buffer)
            e += mult * rows_of(stmt.buffer) if id(stmt.buffer) in stored else 0
        return t, e
    if isinstance(stmt, Seq):
        parts = [_acc_rows(s, stored, mult) for s in stmt.stmts]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if isinstance(stmt, IfThenElse):
        parts = [_acc_rows(s, stored, mult) for s in (stmt.then_case, stmt.else_case) if s]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    if isinstance(stmt, Attr | LetStmt):
        return _acc_rows(stmt.body, stored, mult)
    return 0, 0


def _parity(loops: list[For]):
    """(linear position of the current iteration of `loops`) mod 2, or None for one tile."""
    pos = None
    for lp in loops:
        if isinstance(lp.extent, Const) and int(lp.extent.value) == 1:
            continue
        term = BinOp("sub", lp.var, lp.min)
        pos = term if pos is None else BinOp("add", BinOp("mul", pos, lp.extent), term)
    return None if pos is None else BinOp("floormod", pos, Const(2))


class _Rewrite(Mutator):
    def __init__(self, stored: set[int]):
        self.stored = stored
        self.loops: list[For] = []

    def visit(self, node):
        if isinstance(node, For) and node.kind == ForKind.SERIAL:
            self.loops.append(node)
            try:
                return super().visit(node)
            finally:
                self.loops.pop()
        if isinstance(node, Allocate) and id(node.buffer) in self.stored:
            parity = _parity(self.loops)
            if parity is not None:
                b = node.buffer
                nb = Buffer(b.name, (2, *b.shape), b.dtype, b.scope, b.strides, b.elem_offset)
                node = ReplaceBuffers({b: nb}, lambda old, idx: (parity, *idx)).visit(node)
                return Allocate(nb, super().visit(node.body))
        return super().visit(node)


def pingpong_accumulator(func: PrimFunc, cfg: HwConfig) -> PrimFunc:
    """Double every stored accumulator tile, alternating halves between consecutive tiles,
    when the accumulator SRAM has room for it."""
    if any(isinstance(n, For) and n.kind == ForKind.VIRTUAL_THREAD for n in walk(func.body)):
        # threads already alternate accumulator copies, and `sink_gemm_reset` hides the wait;
        # four copies would only double the micro-op kernels (measured: slower)
        return func
    stored = _stored_accumulators(func)
    total, extra = _acc_rows(func.body, stored)
    if not extra or total + extra > cfg.acc_depth:
        return func
    return _Rewrite(stored).run(func)
