"""Pass `alias_inplace_alu`: give each ALU stage the buffer of its in-place operand.

The ALU computes `ACC[dst] = op(ACC[dst], imm or ACC[src])`: the destination is also the first
operand. An element-wise stage `D[i] = op(S[i], x)` with S an accumulator buffer read at the
same index and not read again later therefore runs in S's rows: D is renamed to S and its
allocation dropped (what TVM's storage rewrite does for VTA). Commutative ops may take the
in-place operand second.
"""

from __future__ import annotations

from compiler.tir.affine import structurally_equal
from compiler.tir.nodes import Allocate, Attr, BinOp, Buffer, Cast, For, Load, PrimFunc, Seq
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


def _reads(stmt, buf: Buffer) -> bool:
    return any(isinstance(n, Load) and n.buffer is buf for n in walk(stmt))


def alias_inplace_alu(func: PrimFunc) -> PrimFunc:
    alias: dict[Buffer, Buffer] = {}

    def scan(node):
        if isinstance(node, Seq):
            for k, st in enumerate(node.stmts):
                if isinstance(st, Attr) and st.key == "pragma" and st.value == "alu":
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
    body = ReplaceBuffers(mapping).visit(body)
    return PrimFunc(func.name, func.params, body, func.attrs)


def _children(node):
    if isinstance(node, Seq):
        return list(node.stmts)
    if isinstance(node, For | Allocate | Attr):
        return [node.body]
    return []
