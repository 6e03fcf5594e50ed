"""Loop-IR verifier: structural rules every well-formed function obeys.

Rules: every Var is bound by an enclosing loop or let (or is a loop-IR function parameter
shape var); every buffer read or written is a parameter or allocated by an enclosing
`Allocate`; index counts match buffer ranks; a Store's value type equals its buffer's type;
loop extents are non-negative constants or expressions of bound vars; a loop variable is not
rebound inside its own loop. `verify(func)` raises `VerifyError` listing every violation with
the statement where it happens.
"""

from __future__ import annotations

from compiler.tir.nodes import (
    Allocate,
    Attr,
    Const,
    Evaluate,
    For,
    IfThenElse,
    LetStmt,
    Load,
    PrimFunc,
    Seq,
    Store,
    Var,
)
from compiler.tir.printer import print_expr


class VerifyError(ValueError):
    """A loop-IR function breaks a structural rule; the message lists every violation."""


def _expr_vars_and_loads(e, out_vars, out_loads):
    from dataclasses import fields

    if isinstance(e, Var):
        out_vars.append(e)
        return
    if isinstance(e, Load):
        out_loads.append(e)
    if not hasattr(e, "__dataclass_fields__"):
        return
    for f in fields(e):
        if f.name == "buffer":
            continue
        v = getattr(e, f.name)
        for x in v if isinstance(v, tuple) else (v,):
            _expr_vars_and_loads(x, out_vars, out_loads)


def verify(func: PrimFunc) -> None:
    errors: list[str] = []
    buffers = set(func.params)
    bound: list[Var] = []

    def check_expr(e, where: str):
        vs, loads = [], []
        _expr_vars_and_loads(e, vs, loads)
        for v in vs:
            if v not in bound:
                errors.append(f"{where}: variable {v.name} is not bound by an enclosing loop")
        for ld in loads:
            if ld.buffer not in buffers:
                errors.append(f"{where}: reads buffer {ld.buffer.name}, which is not allocated")
            if len(ld.indices) != len(ld.buffer.shape):
                errors.append(
                    f"{where}: {ld.buffer.name} has rank {len(ld.buffer.shape)}, "
                    f"read with {len(ld.indices)} indices"
                )

    def go(s):
        if isinstance(s, Seq):
            for x in s.stmts:
                go(x)
        elif isinstance(s, Store):
            where = f"store to {s.buffer.name}"
            if s.buffer not in buffers:
                errors.append(f"{where}: buffer is not allocated")
            if len(s.indices) != len(s.buffer.shape):
                errors.append(
                    f"{where}: rank {len(s.buffer.shape)}, written with {len(s.indices)} indices"
                )
            if s.value.dtype != s.buffer.dtype:
                errors.append(f"{where}: value is {s.value.dtype}, buffer is {s.buffer.dtype}")
            for i in s.indices:
                check_expr(i, where)
            check_expr(s.value, where)
        elif isinstance(s, For):
            where = f"loop {s.var.name}"
            check_expr(s.min, where)
            check_expr(s.extent, where)
            if isinstance(s.extent, Const) and int(s.extent.value) < 0:
                errors.append(f"{where}: negative extent {s.extent.value}")
            if s.var in bound:
                errors.append(f"{where}: rebinds a variable of an enclosing loop")
            bound.append(s.var)
            go(s.body)
            bound.pop()
        elif isinstance(s, LetStmt):
            check_expr(s.value, f"let {s.var.name}")
            bound.append(s.var)
            go(s.body)
            bound.pop()
        elif isinstance(s, Allocate):
            buffers.add(s.buffer)
            go(s.body)
            buffers.discard(s.buffer)
        elif isinstance(s, IfThenElse):
            check_expr(s.cond, f"if {print_expr(s.cond)}")
            go(s.then_case)
            if s.else_case is not None:
                go(s.else_case)
        elif isinstance(s, Attr):
            if hasattr(s.value, "dtype"):
                check_expr(s.value, f"attr {s.key}")
            go(s.body)
        elif isinstance(s, Evaluate):
            check_expr(s.value, "evaluate")
        else:
            errors.append(f"not a loop-IR statement: {type(s).__name__}")

    go(func.body)
    if errors:
        raise VerifyError(f"function {func.name}: " + "; ".join(dict.fromkeys(errors)))
