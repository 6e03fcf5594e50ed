"""Compile loop-IR integer expressions to Python closures (the code generator evaluates each
instruction field once per outer-loop iteration, so this must be fast)."""

from __future__ import annotations

from collections.abc import Callable

from compiler.tir.nodes import BinOp, Cast, Const, Select, Var

_PY = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "floordiv": "//",
    "floormod": "%",
    "shr": ">>",
    "shl": "<<",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "eq": "==",
    "ne": "!=",
    "and": "and",
    "or": "or",
}


def compile_exprs(es) -> Callable[[dict], tuple]:
    """A function env -> tuple of values of several expressions (one call for all)."""
    return compile_expr(tuple(es))


def compile_expr(e) -> Callable[[dict], int]:
    """A function env -> value for an integer expression of Vars (env maps Var -> int).

    A tuple of expressions compiles to one function returning a tuple.
    """
    names: dict[int, str] = {}
    ns: dict[str, object] = {}

    def go(x) -> str:
        if isinstance(x, Const):
            return repr(int(x.value)) if not isinstance(x.value, bool) else repr(x.value)
        if isinstance(x, Var):
            k = id(x)
            if k not in names:
                names[k] = f"_v{len(names)}"
                ns[names[k]] = x
            return f"env[{names[k]}]"
        if isinstance(x, BinOp):
            if x.op in ("min", "max"):
                return f"{x.op}({go(x.a)}, {go(x.b)})"
            return f"({go(x.a)} {_PY[x.op]} {go(x.b)})"
        if isinstance(x, Cast):
            return go(x.value)
        if isinstance(x, Select):
            return f"({go(x.true_value)} if {go(x.cond)} else {go(x.false_value)})"
        raise TypeError(f"cannot compile {type(x).__name__} for the code generator")

    src = f"({', '.join(go(x) for x in e)},)" if isinstance(e, tuple) else go(e)
    return eval(f"lambda env: {src}", ns)  # noqa: S307 - generated from our own IR
