"""Affine analysis and simplification of integer index expressions.

`linear_form(e, vars)` splits `e` into `sum(coef * v) + rest` for the given variables (None if a
variable appears non-linearly); `simplify(e)` folds constants and rewrites affine integer
expressions into a canonical `c1*v1 + c2*v2 + c0` order (first appearance), so that equal
indices print equally. These are the arithmetic behind bound inference and the accelerator
passes (DMA strides, micro-op loop factors).
"""

from __future__ import annotations

import operator

from compiler.tir.nodes import BinOp, Cast, Const, Expr, Load, Select, Var, as_expr
from compiler.tir.visit import Mutator

_INT = ("int32", "int64", "int16", "int8", "uint8")


def _const(e) -> int | None:
    if isinstance(e, Const) and e.dtype in _INT:
        return int(e.value)
    return None


def _affine_all(e: Expr) -> tuple[dict[Var, int], int] | None:
    """e as ({var: coef}, const) if it is an affine integer expression of its Vars."""
    if isinstance(e, Const):
        return ({}, int(e.value)) if e.dtype in _INT else None
    if isinstance(e, Var):
        return ({e: 1}, 0)
    if isinstance(e, Cast) and e.dtype in _INT and e.value.dtype in _INT:
        return _affine_all(e.value)
    if isinstance(e, BinOp) and e.op in ("add", "sub", "mul"):
        a, b = _affine_all(e.a), _affine_all(e.b)
        if a is None or b is None:
            return None
        if e.op == "mul":
            if not a[0]:
                a, b = b, a
            if b[0]:
                return None
            k = b[1]
            return ({v: c * k for v, c in a[0].items()}, a[1] * k)
        s = 1 if e.op == "add" else -1
        coeffs = dict(a[0])
        for v, c in b[0].items():
            coeffs[v] = coeffs.get(v, 0) + s * c
        return (coeffs, a[1] + s * b[1])
    return None


def build_affine(coeffs: dict[Var, int], const: int, dtype: str = "int32") -> Expr:
    """The canonical expression for sum(coef*v) + const."""
    out: Expr | None = None
    for v, c in coeffs.items():
        if c == 0:
            continue
        term = v if c == 1 else BinOp("mul", v, Const(c, dtype)) if c > 0 else None
        if term is None:  # negative coefficient
            t = v if c == -1 else BinOp("mul", v, Const(-c, dtype))
            out = BinOp("sub", out if out is not None else Const(0, dtype), t)
            continue
        out = term if out is None else BinOp("add", out, term)
    if out is None:
        return Const(const, dtype)
    if const > 0:
        out = BinOp("add", out, Const(const, dtype))
    elif const < 0:
        out = BinOp("sub", out, Const(-const, dtype))
    return out


def linear_form(e: Expr, variables) -> tuple[dict[Var, int], Expr] | None:
    """Split e into ({v: coef} for v in `variables`, rest) with rest free of `variables`.

    Returns None when some variable of `variables` occurs non-linearly.
    """
    variables = set(variables)
    aff = _affine_all(e)
    if aff is not None:
        coeffs = {v: c for v, c in aff[0].items() if v in variables and c != 0}
        rest = {v: c for v, c in aff[0].items() if v not in variables}
        return coeffs, build_affine(rest, aff[1], e.dtype)
    # Non-affine overall: accept if the variables occur only in affine top-level terms.
    if isinstance(e, BinOp) and e.op in ("add", "sub"):
        a, b = linear_form(e.a, variables), linear_form(e.b, variables)
        if a is None or b is None:
            return None
        s = 1 if e.op == "add" else -1
        coeffs = dict(a[0])
        for v, c in b[0].items():
            coeffs[v] = coeffs.get(v, 0) + s * c
        return coeffs, simplify(BinOp(e.op, a[1], b[1]))
    if any(v in variables for v in vars_in(e)):
        return None
    return {}, e


# Python semantics of the binary operators on plain numbers, shared with the interpreter:
# `floordiv`/`floormod` round toward negative infinity, `shr` is arithmetic.
PY_BINOPS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "floordiv": operator.floordiv,
    "floormod": operator.mod,
    "min": min,
    "max": max,
    "shr": operator.rshift,
    "shl": operator.lshift,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}


def _fold(op: str, a: int, b: int):
    """`a op b` for two integer constants, or None (unknown op, division by zero)."""
    fn = PY_BINOPS.get(op)
    if fn is None or (op in ("floordiv", "floormod") and not b):
        return None
    return fn(a, b)


class _Simplify(Mutator):
    def visit_BinOp(self, e):  # noqa: N802
        a, b = _const(e.a), _const(e.b)
        if a is not None and b is not None:
            v = _fold(e.op, a, b)
            if v is not None:
                return Const(bool(v), "bool") if isinstance(v, bool) else Const(v, e.a.dtype)
        if e.op in ("add", "sub", "mul") and e.dtype in _INT:
            aff = _affine_all(e)
            if aff is not None:
                return build_affine(aff[0], aff[1], e.dtype)
            if e.op == "mul" and (a == 1 or b == 1):
                return e.b if a == 1 else e.a
            if e.op in ("add", "sub") and b == 0:
                return e.a
        if e.op in ("floordiv", "floormod") and b is not None and b > 0:
            aff = _affine_all(e.a)
            if aff is not None and all(c % b == 0 for c in aff[0].values()) and aff[1] % b == 0:
                if e.op == "floormod":
                    return Const(0, e.dtype)
                return build_affine({v: c // b for v, c in aff[0].items()}, aff[1] // b, e.dtype)
        if e.op == "and":
            if isinstance(e.a, Const):
                return e.b if e.a.value else e.a
            if isinstance(e.b, Const):
                return e.a if e.b.value else e.b
        return e

    def visit_Select(self, e):  # noqa: N802
        if isinstance(e.cond, Const):
            return e.true_value if e.cond.value else e.false_value
        return e

    def visit_Cast(self, e):  # noqa: N802
        if e.value.dtype == e.dtype:
            return e.value
        c = _const(e.value)
        if c is not None and e.dtype in _INT:
            return Const(c, e.dtype)
        return e


def simplify(node):
    """Constant-fold and canonicalize affine integer arithmetic in an expression or statement."""
    return _Simplify().visit(node)


def interval(e: Expr, ranges: dict) -> tuple[Expr, int]:
    """(min, extent) of `e` when each Var v in `ranges` spans [min_v, min_v + ext_v).

    A range may be `(min, ext, step)`: v takes min, min + step, ... (ext values). Vars not in
    `ranges` stay symbolic. `e` must be affine in the ranged Vars.
    """
    return strided_interval(e, ranges)[:2]


def strided_interval(e: Expr, ranges: dict) -> tuple[Expr, int, int]:
    """(min, extent, step): the values of `e` lie in {min + k*step} within [min, min + extent).

    `step` is the gcd of the strides of the varying terms (1 when nothing varies).
    """
    import math

    lf = linear_form(e, ranges.keys())
    if lf is None:
        raise ValueError("not affine in the loop variables")
    coeffs, rest = lf
    lo: Expr = rest
    ext = 1
    step = 0
    for v, c in coeffs.items():
        r = ranges[v]
        vmin, vext = r[0], r[1]
        vstep = r[2] if len(r) > 2 else 1
        cc = c * vstep
        lo = BinOp("add", lo, BinOp("mul", as_expr(vmin), Const(c)))
        if cc < 0:
            lo = BinOp("add", lo, Const(cc * (vext - 1)))
        ext += abs(cc) * (vext - 1)
        if vext > 1:
            step = math.gcd(step, abs(cc))
    return simplify(lo), ext, max(step, 1)


def structurally_equal(a, b) -> bool:
    """Same text form (Vars compared by identity via the printer's naming)."""
    from compiler.tir.printer import Printer

    p = Printer()
    return p.expr(a) == p.expr(b)


def vars_in(node) -> list[Var]:
    """Every Var occurrence in `node` (uses and loop/let bindings), pre-order, with repeats."""
    from dataclasses import fields

    out: list[Var] = []

    def go(n):
        if isinstance(n, Var):
            out.append(n)
            return
        if not hasattr(n, "__dataclass_fields__") or type(n).__name__ == "Buffer":
            return
        for f in fields(n):
            v = getattr(n, f.name)
            if isinstance(v, tuple):
                for x in v:
                    go(x)
            else:
                go(v)

    go(node)
    return out


def free_vars(node) -> list[Var]:
    """Vars used in `node` that no loop/let inside it binds (first-use order)."""
    from compiler.tir.nodes import For, LetStmt
    from compiler.tir.visit import walk

    bound = {n.var for n in walk(node) if isinstance(n, For | LetStmt)}
    seen, out = set(), []
    for v in vars_in(node):
        if v not in bound and v not in seen:
            seen.add(v)
            out.append(v)
    return out


__all__ = [
    "Load",
    "Select",
    "build_affine",
    "free_vars",
    "interval",
    "linear_form",
    "simplify",
    "structurally_equal",
    "vars_in",
]
