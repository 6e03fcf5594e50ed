"""Small symbolic helpers the LLVM backend uses to classify memory accesses in vector loops.

A `vectorized` loop over `v` turns each Load/Store into one of three forms, decided from the
flattened element index `f(v)`:

- invariant (`v` does not occur): one scalar access, broadcast when combined with vectors;
- contiguous (`f(v) = base + v`): one vector load/store of `lanes` consecutive elements;
- anything else: a gather/scatter, one scalar access per lane.
"""

from __future__ import annotations

from compiler.tir.affine import vars_in
from compiler.tir.nodes import BinOp, Buffer, Cast, Const, Expr, Var, as_expr


def flat_index(buffer: Buffer, indices: tuple[Expr, ...]) -> Expr:
    """The element offset of `buffer[indices]` from the buffer's base pointer (row-major default).

    Raises ValueError naming the buffer if its shape or strides are not integers.
    """
    if buffer.strides is not None:
        strides = list(buffer.strides)
    else:
        strides = []
        acc = 1
        for dim in reversed(buffer.shape):
            if not isinstance(dim, int):
                raise ValueError(
                    f"buffer {buffer.name}: the LLVM backend needs integer shapes, got {dim!r}"
                )
            strides.append(acc)
            acc *= dim
        strides.reverse()
    total: Expr | None = None
    for idx, stride in zip(indices, strides, strict=True):
        term = _mul(idx, stride)
        total = term if total is None else _add(total, term)
    if total is None:
        total = Const(0)
    if not (isinstance(buffer.elem_offset, int) and buffer.elem_offset == 0):
        total = _add(total, buffer.elem_offset)
    return total


def _mul(idx: Expr, stride) -> Expr:
    if isinstance(stride, int):
        if stride == 1:
            return idx
        if isinstance(idx, Const) and isinstance(idx.value, int):
            return Const(idx.value * stride, idx.dtype)
        return BinOp("mul", idx, Const(stride, idx.dtype))
    return BinOp("mul", idx, as_expr(stride, idx.dtype))


def _add(a: Expr, b) -> Expr:
    b = as_expr(b, a.dtype)
    if isinstance(b, Const) and b.value == 0:
        return a
    if isinstance(a, Const) and a.value == 0:
        return b
    return BinOp("add", a, b)


def uses_var(expr, var: Var) -> bool:
    return any(n is var for n in vars_in(expr))


def affine_coeff(expr, var: Var) -> int | None:
    """The integer coefficient c with `expr = c * var + (terms free of var)`, or None if `expr`
    is not affine in `var` with a constant coefficient (e.g. `var * var`, `var // 2`)."""
    if expr is var:
        return 1
    if isinstance(expr, Var | Const):
        return 0
    if isinstance(expr, Cast):
        # An integer widening/narrowing cast keeps the lane stride for in-range indices.
        return affine_coeff(expr.value, var) if not expr.dtype.startswith("float") else None
    if isinstance(expr, BinOp):
        if expr.op in ("add", "sub"):
            ca, cb = affine_coeff(expr.a, var), affine_coeff(expr.b, var)
            if ca is None or cb is None:
                return None
            return ca + cb if expr.op == "add" else ca - cb
        if expr.op == "mul":
            ca, cb = affine_coeff(expr.a, var), affine_coeff(expr.b, var)
            if ca is None or cb is None:
                return None
            if ca == 0 and cb == 0:
                return 0
            if ca != 0 and isinstance(expr.b, Const):
                return ca * int(expr.b.value)
            if cb != 0 and isinstance(expr.a, Const):
                return cb * int(expr.a.value)
            return None
    return 0 if not uses_var(expr, var) else None
