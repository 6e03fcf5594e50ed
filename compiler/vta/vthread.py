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
from compiler.tir.nodes import Allocate, Buffer, Const, For, ForKind, PrimFunc, Seq, seq
from compiler.tir.visit import Mutator, substitute
from compiler.vta.nest import ReplaceBuffers


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


def _replicate(stmt, vt, n: int):
    if isinstance(stmt, Seq):
        return seq(*[_replicate(s, vt, n) for s in stmt.stmts])
    if _is_block(stmt):
        if vt not in free_vars(stmt):
            return seq(*[stmt for _ in range(n)])
        return seq(*[simplify(substitute(stmt, {vt: Const(t)})) for t in range(n)])
    if isinstance(stmt, For):
        return For(
            stmt.var,
            stmt.min,
            stmt.extent,
            stmt.kind,
            _replicate(stmt.body, vt, n),
            stmt.annotations,
        )
    raise TypeError(f"inject_virtual_thread: unexpected {type(stmt).__name__} in thread body")


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
    return _Inject().run(func)
