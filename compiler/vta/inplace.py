"""Pass `alias_inplace_alu`: give each ALU stage the buffer of its in-place operand.

The ALU computes `ACC[dst] = op(ACC[dst], imm or ACC[src])`: the destination is also the first
operand. An element-wise stage `D[i] = op(S[i], x)` with S an accumulator buffer read at the
same index and not read again later therefore runs in S's rows: D is renamed to S and its
allocation dropped (what TVM's storage rewrite does for VTA). Commutative ops may take the
in-place operand second. Likewise a reduction stage initialized from S at its own index (the
bias added by the GEMM unit) accumulates in S's rows; its now self-copying initialization is
removed.
"""

from __future__ import annotations

from dataclasses import replace

from compiler.tir.affine import structurally_equal
from compiler.tir.nodes import (
    Allocate,
    Attr,
    BinOp,
    Buffer,
    Cast,
    For,
    Load,
    PrimFunc,
    Seq,
    Store,
    seq,
)
from compiler.tir.visit import Mutator, walk
from compiler.vta.intrin import ACC
from compiler.vta.nest import ReplaceBuffers, VtaPassError, perfect_nest

_COMMUTATIVE = ("add", "min", "max", "mul")


def _inplace_operand(store) -> Buffer | None:
    v = store.value
    cands = []
    if isinstance(v, Load):
        cands = [v]
    elif isinstance(v, BinOp):
        cands = [v.a] + ([v.b] if v.op in _COMMUTATIVE else [])
    for c in cands:
        c = c.value if isinstance(c, Cast) and c.dtype == c.value.dtype else c
        if (
            isinstance(c, Load)
            and c.buffer.scope == ACC
            and c.buffer.dtype == store.buffer.dtype
            and tuple(c.buffer.shape) == tuple(store.buffer.shape)
            and all(structurally_equal(a, b) for a, b in zip(c.indices, store.indices, strict=True))
        ):
            return c.buffer
    return None


def _init_source(stmt) -> tuple[Buffer, Buffer] | None:
    """(D, S) if `stmt` is a reduction stage that starts from S at its own index (in place)."""
    for n in walk(stmt):
        if isinstance(n, Store) and n.buffer.scope == ACC:
            v = n.value
            while isinstance(v, Cast) and v.dtype == v.value.dtype:
                v = v.value
            if (
                isinstance(v, Load)
                and v.buffer is not n.buffer
                and v.buffer.scope == ACC
                and tuple(v.buffer.shape) == tuple(n.buffer.shape)
                and v.buffer.dtype == n.buffer.dtype
                and all(structurally_equal(a, b) for a, b in zip(v.indices, n.indices, strict=True))
            ):
                return n.buffer, v.buffer
    return None


def _drop_self_copies(node):
    """Remove `B[i] = B[i]` outside ALU regions (a reduction's in-place initialization)."""
    if isinstance(node, Store):
        v = node.value
        if isinstance(v, Load) and v.buffer is node.buffer and v.indices == node.indices:
            return None
        return node
    if isinstance(node, Attr) and node.key == "pragma" and node.value == "alu":
        return node
    if isinstance(node, Seq):
        kept = [x for x in (_drop_self_copies(c) for c in node.stmts) if x is not None]
        return seq(*kept) if kept else None
    if isinstance(node, For | Allocate | Attr):
        body = _drop_self_copies(node.body)
        if body is None:
            return None if not isinstance(node, Allocate) else node
        return node if body is node.body else replace(node, body=body)
    return node


def _reads(stmt, buf: Buffer) -> bool:
    return any(isinstance(n, Load) and n.buffer is buf for n in walk(stmt))


def alias_inplace_alu(func: PrimFunc) -> PrimFunc:
    alias: dict[Buffer, Buffer] = {}

    def scan(node):
        if isinstance(node, Seq):
            for k, st in enumerate(node.stmts):
                init = None if _is_alu(st) else _init_source(st)
                if init is not None:
                    dst, src = init
                    if any(_reads(later, src) for later in node.stmts[k + 1 :]):
                        raise VtaPassError(
                            f"stage {dst.name}: its initial value {src.name} is read again "
                            "later, so it cannot be accumulated in place"
                        )
                    alias[dst] = src
                if _is_alu(st):
                    _, store = perfect_nest(st.body)
                    src = _inplace_operand(store)
                    if src is None:
                        raise VtaPassError(
                            f"ALU stage {store.buffer.name}: needs an accumulator operand read "
                            "at the destination's own index (in-place)"
                        )
                    if any(_reads(later, src) for later in node.stmts[k + 1 :]):
                        raise VtaPassError(
                            f"ALU stage {store.buffer.name}: operand {src.name} is read again "
                            "later, so it cannot be updated in place"
                        )
                    if src is not store.buffer:
                        alias[store.buffer] = src
        for c in _children(node):
            scan(c)

    scan(func.body)
    if not alias:
        return func

    def root(b):
        while b in alias:
            b = alias[b]
        return b

    mapping = {b: root(b) for b in alias}

    class _Drop(Mutator):
        def visit_Allocate(self, node):  # noqa: N802
            return node.body if node.buffer in mapping else node

    body = _Drop().visit(func.body)
    body = _drop_self_copies(ReplaceBuffers(mapping).visit(body))
    return PrimFunc(func.name, func.params, body, func.attrs)


def _is_alu(st) -> bool:
    return isinstance(st, Attr) and st.key == "pragma" and st.value == "alu"


def _children(node):
    if isinstance(node, Seq):
        return list(node.stmts)
    if isinstance(node, For | Allocate | Attr):
        return [node.body]
    return []
