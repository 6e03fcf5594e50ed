"""Pass `inject_virtual_thread`: virtual threads → ping-pong buffers + interleaved work.

A `For(vt, 0, n, vthread)` loop is removed. Every buffer allocated inside it gets a leading
dimension of n (thread t uses copy t) and its allocation moves outside. The work is replicated
per thread at the level of *blocks* — a marked region (pragma/tensorize/intrinsic attribute) or a
perfect loop nest around one — and the copies are interleaved: loops that hold several blocks are
entered once, with the threads' copies of each block back to back inside (legal because threads
touch disjoint buffers). So a thread's next loads can run while the other thread computes; each
copy later gets its own dependency tokens because the tokens follow the buffers.
"""

from __future__ import annotations

from compiler.tir.affine import free_vars, simplify
from compiler.tir.nodes import (
    Allocate,
    Attr,
    Buffer,
    Const,
    For,
    ForKind,
    Load,
    PrimFunc,
    Seq,
    Store,
    seq,
)
from compiler.tir.visit import Mutator, substitute, walk
from compiler.vta.intrin import INP, SCOPES, WGT
from compiler.vta.nest import ReplaceBuffers, VtaPassError, perfect_nest


def _is_block(stmt) -> bool:
    """A perfect loop nest (possibly empty) around a single non-loop statement."""
    while isinstance(stmt, For):
        stmt = stmt.body
    return not isinstance(stmt, Seq | Allocate)


def _collect_allocs(stmt, out: list[Buffer]):
    class _Strip(Mutator):
        def visit_Allocate(self, node):  # noqa: N802
            out.append(node.buffer)
            return node.body

    return _Strip().visit(stmt)


def _queue_class(block) -> str:
    """Which accelerator queue a block will run on (loads of INP/WGT, compute, store)."""
    while isinstance(block, For):
        block = block.body
    if isinstance(block, Attr) and block.key == "pragma" and block.value == "dma_copy":
        _, store = perfect_nest(block.body)
        if store.buffer.scope in (INP, WGT):
            return "load"
        if store.buffer.scope not in SCOPES:
            return "store"
    return "compute"


def _per_thread(stmts: list, vt, n: int) -> list:
    out = []
    for t in range(n):
        for s in stmts:
            out.append(s if vt not in free_vars(s) else simplify(substitute(s, {vt: Const(t)})))
    return out


def _buffers(stmt) -> set[int]:
    return {id(x.buffer) for x in walk(stmt) if isinstance(x, Store | Load)}


def _hoist_loads(stmts: list) -> list:
    """Each load block moved before the compute blocks just before it that share no buffer with
    it (legal: different queues, no conflict), so that compute blocks separated only by loads
    form one run: the epilogue `[shr, (bias loads), bias, max, min]` becomes `[(bias loads),
    shr, bias, max, min]` and each thread's epilogue runs whole, its STORE starting earlier."""
    out: list = []
    for s in stmts:
        k = len(out)
        if _is_block(s) and _queue_class(s) == "load":
            bufs = _buffers(s)
            while (
                k
                and _is_block(out[k - 1])
                and _queue_class(out[k - 1]) == "compute"
                and not bufs & _buffers(out[k - 1])
            ):
                k -= 1
        out.insert(k, s)
    return out


def _replicate(stmt, vt, n: int):
    if isinstance(stmt, Seq):
        # Consecutive blocks of one queue form a run, replicated per thread as a whole:
        # [inp t0, wgt t0, inp t1, wgt t1, gemm t0, gemm t1], so that a thread's loads are
        # adjacent in the load queue and can complete while the other thread computes.
        out, run, run_q = [], [], None
        for s in _hoist_loads(list(stmt.stmts)):
            if _is_block(s) and (run_q is None or _queue_class(s) == run_q):
                run.append(s)
                run_q = _queue_class(s)
                continue
            if run:
                out += _per_thread(run, vt, n)
                run, run_q = [], None
            if _is_block(s):
                run, run_q = [s], _queue_class(s)
            else:
                out.append(_replicate(s, vt, n))
        if run:
            out += _per_thread(run, vt, n)
        return seq(*out)
    if _is_block(stmt):
        return seq(*_per_thread([stmt], vt, n))
    if isinstance(stmt, For):
        return For(
            stmt.var,
            stmt.min,
            stmt.extent,
            stmt.kind,
            _replicate(stmt.body, vt, n),
            stmt.annotations,
        )
    raise VtaPassError(
        f"inject_virtual_thread: unexpected {type(stmt).__name__} in the body of thread loop "
        f"{vt.name}"
    )


class _Inject(Mutator):
    def visit_For(self, node):  # noqa: N802
        if node.kind != ForKind.VIRTUAL_THREAD:
            return node
        n = int(node.extent.value)
        allocs: list[Buffer] = []
        body = _collect_allocs(node.body, allocs)
        mapping = {
            b: Buffer(b.name, (n, *b.shape), b.dtype, b.scope, b.strides, b.elem_offset)
            for b in allocs
        }
        vt = node.var
        body = ReplaceBuffers(mapping, lambda old, idx: (vt, *idx)).visit(body)
        body = _replicate(body, vt, n)
        for b in reversed(allocs):
            body = Allocate(mapping[b], body)
        return body


def inject_virtual_thread(func: PrimFunc) -> PrimFunc:
    """Remove every `vthread` loop: per-thread buffer copies and interleaved blocks."""
    return _Inject().run(func)
