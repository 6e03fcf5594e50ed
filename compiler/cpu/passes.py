"""Loop-IR passes the CPU path runs before LLVM code generation (`prepare`, in order).

`simplify_div_mod`: schedules written with split/fuse index buffers with expressions such as
`(j.o * 16 + j) // 16` and `(j.o * 16 + j) % 16` where `0 <= j < 16`. They are `j.o` and `j`,
but the backend only sees that when the loop ranges are known; left alone, an index that is
not affine in the vectorized variable becomes a gather. The pass rewrites
`floordiv(e, c)` / `floormod(e, c)` of an affine `e` with positive constant `c` whenever the
terms of `e` whose coefficients `c` does not divide stay within [0, c) over the enclosing
loops' ranges.

`prove_guards`: bound inference over split/fused loops over-approximates, so lowered schedules
carry guards such as `if (f % 2) * 16 + j < 32` that always hold. A guard inside a vectorized
loop that depends on the lane would force scalar code; the pass evaluates comparisons by
interval arithmetic over the loop ranges and drops the guards (and selects) it can decide.
"""

from __future__ import annotations

from compiler.tir.nodes import BinOp, Cast, Const, For, PrimFunc, Seq, Var
from compiler.tir.visit import Mutator

_INT = ("int8", "int16", "int32", "int64", "uint8")
_NOTHING = Seq(())


def _affine(e) -> tuple[dict[Var, int], int] | None:
    """e as ({var: coefficient}, constant), or None if it is not affine with int constants."""
    if isinstance(e, Const):
        return ({}, int(e.value)) if e.dtype in _INT else None
    if isinstance(e, Var):
        return {e: 1}, 0
    if isinstance(e, Cast) and e.dtype in _INT and e.value.dtype in _INT:
        return _affine(e.value)
    if isinstance(e, BinOp) and e.op in ("add", "sub", "mul"):
        a, b = _affine(e.a), _affine(e.b)
        if a is None or b is None:
            return None
        if e.op == "mul":
            if a[0] and b[0]:
                return None
            (terms, c0), k = (a, b[1]) if not b[0] else (b, a[1])
            return {v: c * k for v, c in terms.items()}, c0 * k
        sign = 1 if e.op == "add" else -1
        terms = dict(a[0])
        for v, c in b[0].items():
            terms[v] = terms.get(v, 0) + sign * c
        return terms, a[1] + sign * b[1]
    return None


def _build(terms: dict[Var, int], const: int, dtype: str):
    out = None
    for v, c in terms.items():
        if c == 0:
            continue
        t = v if c == 1 else BinOp("mul", v, Const(c, dtype))
        out = t if out is None else BinOp("add", out, t)
    if out is None:
        return Const(const, dtype)
    return out if const == 0 else BinOp("add", out, Const(const, dtype))


class _DivMod(Mutator):
    def __init__(self):
        self.ranges: dict[Var, tuple[int, int]] = {}  # var -> (min, max) inclusive

    def visit(self, node):
        if isinstance(node, For):
            if isinstance(node.min, Const) and isinstance(node.extent, Const):
                lo = int(node.min.value)
                self.ranges[node.var] = (lo, lo + int(node.extent.value) - 1)
            try:
                return super().visit(node)
            finally:
                self.ranges.pop(node.var, None)
        return super().visit(node)

    def visit_BinOp(self, e):  # noqa: N802 - Mutator hook naming
        if e.op not in ("floordiv", "floormod") or e.a.dtype not in _INT:
            return e
        if not (isinstance(e.b, Const) and int(e.b.value) > 0):
            return e
        c = int(e.b.value)
        aff = _affine(e.a)
        if aff is None:
            return e
        terms, const = aff
        q_terms = {v: k // c for v, k in terms.items() if k % c == 0}
        r_terms = {v: k for v, k in terms.items() if k % c != 0}
        qc, rc = divmod(const, c)
        lo = hi = rc
        for v, k in r_terms.items():
            if v not in self.ranges:
                return e
            vlo, vhi = self.ranges[v]
            lo += min(k * vlo, k * vhi)
            hi += max(k * vlo, k * vhi)
        if lo < 0 or hi >= c:
            return e
        if e.op == "floordiv":
            return _build(q_terms, qc, e.a.dtype)
        return _build(r_terms, rc, e.a.dtype)


def simplify_div_mod(func: PrimFunc) -> PrimFunc:
    return _DivMod().run(func)


def _interval(e, ranges) -> tuple[int, int] | None:
    """Inclusive integer bounds of `e` over `ranges`, or None if unknown."""
    if isinstance(e, Const):
        return (int(e.value), int(e.value)) if e.dtype in _INT else None
    if isinstance(e, Var):
        return ranges.get(e)
    if isinstance(e, Cast) and e.dtype in _INT and e.value.dtype in _INT:
        return _interval(e.value, ranges)
    if not isinstance(e, BinOp) or e.a.dtype not in _INT:
        return None
    a = _interval(e.a, ranges)
    b = _interval(e.b, ranges)
    if a is None or b is None:
        return None
    if e.op == "add":
        return a[0] + b[0], a[1] + b[1]
    if e.op == "sub":
        return a[0] - b[1], a[1] - b[0]
    if e.op == "mul":
        prods = [x * y for x in a for y in b]
        return min(prods), max(prods)
    if e.op in ("min", "max"):
        f = min if e.op == "min" else max
        return f(a[0], b[0]), f(a[1], b[1])
    if e.op in ("floordiv", "floormod") and b[0] == b[1] and b[0] > 0:
        c = b[0]
        if e.op == "floordiv":
            return a[0] // c, a[1] // c
        if a[1] - a[0] < c and a[0] % c <= a[1] % c:
            return a[0] % c, a[1] % c
        return 0, c - 1
    return None


def _decide(e, ranges) -> bool | None:
    """The value of a boolean expression if the loop ranges decide it."""
    if isinstance(e, Const) and e.dtype == "bool":
        return bool(e.value)
    if not isinstance(e, BinOp):
        return None
    if e.op in ("and", "or"):
        a, b = _decide(e.a, ranges), _decide(e.b, ranges)
        if e.op == "and":
            return False if False in (a, b) else (True if a and b else None)
        return True if True in (a, b) else (False if a is False and b is False else None)
    if e.op not in ("lt", "le", "gt", "ge", "eq", "ne"):
        return None
    a, b = _interval(e.a, ranges), _interval(e.b, ranges)
    if a is None or b is None:
        return None
    lo, hi = a[0] - b[1], a[1] - b[0]  # range of a - b
    table = {
        "lt": (hi < 0, lo >= 0), "le": (hi <= 0, lo > 0), "gt": (lo > 0, hi <= 0),
        "ge": (lo >= 0, hi < 0), "eq": (lo == hi == 0, lo > 0 or hi < 0),
        "ne": (lo > 0 or hi < 0, lo == hi == 0),
    }  # fmt: skip
    yes, no = table[e.op]
    return True if yes else (False if no else None)


class _Guards(_DivMod):
    """Reuses the loop-range tracking of `_DivMod`; decides conditions instead of div/mod."""

    def visit_BinOp(self, e):  # noqa: N802
        return e

    def visit_IfThenElse(self, s):  # noqa: N802
        d = _decide(s.cond, self.ranges)
        if d is True:
            return s.then_case
        if d is False:
            return s.else_case if s.else_case is not None else _NOTHING
        return s

    def visit_Select(self, e):  # noqa: N802
        d = _decide(e.cond, self.ranges)
        return e if d is None else (e.true_value if d else e.false_value)


def prove_guards(func: PrimFunc) -> PrimFunc:
    return _Guards().run(func)


def prepare(func: PrimFunc) -> PrimFunc:
    """All CPU loop-IR passes, in order: div/mod first (guards then see plain affine forms)."""
    return prove_guards(simplify_div_mod(func))
