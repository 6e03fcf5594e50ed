"""Passes `sink_gemm_reset` and `sink_epilogue`: a tile's reset into the first iteration of
its reduction loop, its epilogue into the last one.

A GEMM reset writes its rows (HLS also writes OUT; VTA's simulator stores the zeroed ACC), so
`insert_dep_tokens` makes it wait for the STORE of those rows from the previous tile, and the
compute module, which runs in order, waits with it. The schedule puts the reset before the
input-channel loop and the epilogue after it:

    reset C;  for ic: [load inp, load wgt, gemm C];  epilogue C;  store C

which virtual threads replicate as `[reset t0, reset t1, loads..., gemm t0, gemm t1, epi t0,
epi t1]`: thread 1's reset waits for thread 1's store with nothing else to run, and thread 0's
store cannot start before thread 1's last GEMM. After both passes:

    for ic: [load inp, load wgt, if ic == 0 (and not the first tile): reset C, gemm C,
             if ic == last: epilogue C];  store C

and the threads' copies interleave as `[loads..., reset t0, gemm t0, epi t0, reset t1, gemm t1,
epi t1]`: thread 1's store drains while thread 0 computes, and thread 0's store starts while
thread 1 still computes. The first tile has no store to wait for: its resets stay where they
were (guarded by "first tile"), running while the first loads stream in. Both moves keep the
sequential order of everything that touches the tile (nothing between the old and the new
place touches it, and the loop runs at least once), so the result is unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.tir.nodes import (
    Allocate,
    Attr,
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    IfThenElse,
    Load,
    PrimFunc,
    Seq,
    Store,
    seq,
)
from compiler.tir.visit import walk
from compiler.vta.nest import perfect_nest


def _reset_buffer(stmt) -> Buffer | None:
    """The accumulator a reset block (a nest around a `tensorize gemm` of `C = 0`) zeroes."""
    _, leaf = perfect_nest(stmt)
    if isinstance(leaf, Attr) and leaf.key == "tensorize" and leaf.value == "gemm":
        _, store = perfect_nest(leaf.body)
        if isinstance(store, Store) and isinstance(store.value, Const):
            return store.buffer
    return None


def _touches(stmt, buf: Buffer) -> bool:
    return any(isinstance(n, Store | Load) and n.buffer is buf for n in walk(stmt))


def _insert_before_use(body, guarded, buf: Buffer):
    """`body` with `guarded` just before its first statement touching `buf` (looking through
    the allocations of the loop's own buffers)."""
    if isinstance(body, Allocate):
        return replace(body, body=_insert_before_use(body.body, guarded, buf))
    stmts = list(body.stmts) if isinstance(body, Seq) else [body]
    k = next(i for i, s in enumerate(stmts) if _touches(s, buf))
    return seq(*stmts[:k], guarded, *stmts[k:])


def _sink_into(loop: For, reset, buf: Buffer, later) -> For:
    cond = BinOp("eq", loop.var, loop.min)
    guarded = IfThenElse(BinOp("and", cond, later) if later is not None else cond, reset)
    return replace(loop, body=_insert_before_use(loop.body, guarded, buf))


def _all(op: str, terms: list):
    e = terms[0]
    for t in terms[1:]:
        e = BinOp(op, e, t)
    return e


def _sink(stmts: list, outer: list[For]) -> list:
    """`stmts` (a Seq inside the tile loops `outer`) with each reset sunk into the loop after it.

    The first tile has no earlier STORE to wait for: there the reset stays in place (it runs
    while the first loads stream in); every later tile resets inside the loop."""
    tiles = [lp for lp in outer if not (isinstance(lp.extent, Const) and lp.extent.value == 1)]
    if not tiles:
        return stmts  # one tile: its reset waits for nothing
    first = _all("and", [BinOp("eq", lp.var, lp.min) for lp in tiles])
    later = _all("or", [BinOp("ne", lp.var, lp.min) for lp in tiles])
    out = list(stmts)
    i = 0
    while i < len(out):
        buf = _reset_buffer(out[i])
        j = i + 1
        while buf is not None and j < len(out) and not _touches(out[j], buf):
            j += 1
        if (
            buf is not None
            and j < len(out)
            and isinstance(out[j], For)
            and out[j].kind == ForKind.SERIAL
            and isinstance(out[j].extent, Const)
            and out[j].extent.value > 0
            and not _is_block(out[j])
        ):
            out[j] = _sink_into(out[j], out[i], buf, later)
            out[i] = IfThenElse(first, out[i])
        i += 1
    return out


def _rewrite(s, outer: list[For]):
    if isinstance(s, For):
        inner = outer + [s] if s.kind == ForKind.SERIAL else outer
        return replace(s, body=_rewrite(s.body, inner))
    if isinstance(s, Seq):
        return seq(*_sink([_rewrite(x, outer) for x in s.stmts], outer))
    if isinstance(s, Allocate | Attr):
        return replace(s, body=_rewrite(s.body, outer))
    return s


def sink_gemm_reset(func: PrimFunc) -> PrimFunc:
    """Move every GEMM reset of a tile after the first into the first iteration of the loop
    that next uses the tile."""
    return replace(func, body=_rewrite(func.body, []))


# ----- the epilogue ------------------------------------------------------------------------


def _is_block(stmt) -> bool:
    """A perfect loop nest around one non-loop statement (one intrinsic region)."""
    _, leaf = perfect_nest(stmt)
    return not isinstance(leaf, Seq | Allocate)


def _is_store_out(stmt) -> bool:
    """A DMA block writing a global (DRAM) buffer: the tile's STORE."""
    _, leaf = perfect_nest(stmt)
    if isinstance(leaf, Attr) and leaf.key == "pragma" and leaf.value == "dma_copy":
        _, store = perfect_nest(leaf.body)
        return isinstance(store, Store) and store.buffer.scope == "global"
    return False


def _gemm_target(loop: For) -> Buffer | None:
    """The accumulator the GEMM updates inside `loop` (a reduction loop), if any."""
    for n in walk(loop):
        if isinstance(n, Attr) and n.key == "tensorize" and n.value == "gemm":
            _, store = perfect_nest(n.body)
            if isinstance(store, Store) and not isinstance(store.value, Const):
                return store.buffer
    return None


def _append_to_body(body, tail):
    if isinstance(body, Allocate):
        return replace(body, body=_append_to_body(body.body, tail))
    return seq(body, tail)


def _sink_epilogue(stmts: list) -> list:
    out = list(stmts)
    for j, loop in enumerate(out):
        if not (
            isinstance(loop, For)
            and loop.kind == ForKind.SERIAL
            and isinstance(loop.extent, Const)
            and loop.extent.value > 0
            and not _is_block(loop)  # a step loop (loads + GEMM), not the GEMM's own nest
            and _gemm_target(loop) is not None
        ):
            continue
        buf = _gemm_target(loop)
        k = j + 1
        while k < len(out) and not _is_store_out(out[k]) and _is_block(out[k]):
            k += 1
        epi = out[j + 1 : k]
        if not epi or not any(_touches(s, buf) for s in epi):
            continue
        last = BinOp("eq", loop.var, BinOp("add", loop.min, Const(int(loop.extent.value) - 1)))
        out[j] = replace(loop, body=_append_to_body(loop.body, IfThenElse(last, seq(*epi))))
        del out[j + 1 : k]
        break
    return out


def sink_epilogue(func: PrimFunc) -> PrimFunc:
    """Move the blocks between a tile's reduction loop and its STORE (the epilogue: ALU steps,
    the bias GEMM and its loads) into the loop's last iteration, after the GEMM."""

    def rw(s):
        if isinstance(s, For | Allocate | Attr):
            return replace(s, body=rw(s.body))
        if isinstance(s, Seq):
            return seq(*_sink_epilogue([rw(x) for x in s.stmts]))
        return s

    return replace(func, body=rw(func.body))
