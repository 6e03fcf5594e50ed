"""Small loop-IR helpers shared by the accelerator passes."""

from __future__ import annotations

from dataclasses import replace

from compiler.tir.affine import simplify
from compiler.tir.nodes import Allocate, BinOp, Buffer, Const, Expr, For, Load, Store, Var
from compiler.tir.visit import Mutator, substitute


class VtaPassError(ValueError):
    """A loop nest marked for the accelerator does not have a shape the hardware can run."""


def perfect_nest(stmt) -> tuple[list[For], object]:
    """The chain of loops each directly containing the next, and the statement inside them."""
    loops = []
    while isinstance(stmt, For):
        loops.append(stmt)
        stmt = stmt.body
    return loops, stmt


def wrap_loops(loops: list[For], body):
    for lp in reversed(loops):
        body = replace(lp, body=body)
    return body


def rows_of(buf: Buffer) -> int:
    """SRAM rows of a buffer (all dims but the two element dims)."""
    n = 1
    for s in buf.shape[:-2]:
        n *= int(s)
    return n


def row_index(buf: Buffer, idx: tuple[Expr, ...], base: bool = True) -> Expr:
    """Row (element) index of `buf[idx]`: row-major over all but the last two dims."""
    e: Expr = Const(0)
    stride = 1
    for d in range(len(buf.shape) - 3, -1, -1):
        e = BinOp("add", e, BinOp("mul", idx[d], Const(stride)))
        stride *= int(buf.shape[d])
    if base:
        off = buf.elem_offset
        e = BinOp("add", e, off if isinstance(off, Var | BinOp) else Const(int(off)))
    return simplify(e)


def check_elem_indices(what: str, buf: Buffer, idx, loops: list[For], names: tuple[str, ...]):
    """The last two indices of `buf[idx]` must be the loop vars given by position in `loops`."""
    for k, lp in zip((-2, -1), loops, strict=True):
        if idx[k] is not lp.var:
            raise VtaPassError(
                f"{what}: {buf.name} must be indexed by the {names[k]} loop in its element dims"
            )


def drop_unit_loops(loops: list[For]) -> tuple[list[For], dict[Var, Expr]]:
    """Loops with extent 1 removed; the mapping sends their vars to their min."""
    keep, sub = [], {}
    for lp in loops:
        if isinstance(lp.extent, Const) and int(lp.extent.value) == 1:
            sub[lp.var] = lp.min
        else:
            keep.append(lp)
    return keep, sub


class ReplaceBuffers(Mutator):
    """Swap buffers (by identity) in Loads, Stores and Allocates; optional index rewrite."""

    def __init__(self, mapping: dict[Buffer, Buffer], index_fn=None):
        self.mapping = mapping
        self.index_fn = index_fn  # (old_buffer, indices) -> indices

    def _idx(self, old, idx):
        return self.index_fn(old, idx) if self.index_fn else idx

    def visit_Load(self, node):  # noqa: N802
        nb = self.mapping.get(node.buffer)
        return Load(nb, self._idx(node.buffer, node.indices)) if nb is not None else node

    def visit_Store(self, node):  # noqa: N802
        nb = self.mapping.get(node.buffer)
        if nb is None:
            return node
        return Store(nb, self._idx(node.buffer, node.indices), node.value)

    def visit_Allocate(self, node):  # noqa: N802
        nb = self.mapping.get(node.buffer)
        return Allocate(nb, node.body) if nb is not None else node


def subst(node, mapping):
    return simplify(substitute(node, mapping)) if mapping else node
