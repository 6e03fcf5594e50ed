"""Deterministic text form of the loop IR (used by `__repr__`, tests and debug dumps).

Variables print by name; when two distinct Vars share a name in one function, the later ones get
a numeric suffix (`i`, `i_1`) so the text stays unambiguous and stable run to run.
"""

from __future__ import annotations

from compiler.tir.nodes import (
    BINOPS,
    Allocate,
    Attr,
    BinOp,
    Buffer,
    Call,
    Cast,
    Const,
    Evaluate,
    For,
    IfThenElse,
    LetStmt,
    Load,
    PrimFunc,
    Select,
    Seq,
    Store,
    Var,
)

_INFIX_PREC = {
    "or": 1, "and": 2, "eq": 3, "ne": 3, "lt": 4, "le": 4, "gt": 4, "ge": 4,
    "shl": 5, "shr": 5, "add": 6, "sub": 6, "mul": 7, "div": 7, "floordiv": 7, "floormod": 7,
}  # fmt: skip


class _Names:
    def __init__(self):
        self._by_id: dict[int, str] = {}
        self._used: dict[str, int] = {}

    def __call__(self, obj) -> str:
        key = id(obj)
        if key not in self._by_id:
            n = self._used.get(obj.name, 0)
            self._used[obj.name] = n + 1
            self._by_id[key] = obj.name if n == 0 else f"{obj.name}_{n}"
        return self._by_id[key]


class Printer:
    def __init__(self):
        self.names = _Names()

    # ----- expressions ------------------------------------------------------------------
    def expr(self, e, prec: int = 0) -> str:
        if isinstance(e, int | float):
            return repr(e)
        if isinstance(e, Var):
            return self.names(e)
        if isinstance(e, Const):
            if e.dtype == "int32" or e.dtype == "bool":
                return str(e.value).lower() if e.dtype == "bool" else str(e.value)
            return f"{e.value!r}:{e.dtype}"
        if isinstance(e, BinOp):
            if e.op in ("min", "max"):
                return f"{e.op}({self.expr(e.a)}, {self.expr(e.b)})"
            p = _INFIX_PREC[e.op]
            text = f"{self.expr(e.a, p)} {BINOPS[e.op][0]} {self.expr(e.b, p + 1)}"
            return f"({text})" if p < prec else text
        if isinstance(e, Cast):
            return f"{e.dtype}({self.expr(e.value)})"
        if isinstance(e, Select):
            return (
                f"select({self.expr(e.cond)}, {self.expr(e.true_value)}, "
                f"{self.expr(e.false_value)})"
            )
        if isinstance(e, Load):
            return f"{self.names(e.buffer)}[{', '.join(self.expr(i) for i in e.indices)}]"
        if isinstance(e, Call):
            return f"{e.name}({', '.join(self.expr(a) for a in e.args)}):{e.dtype}"
        raise TypeError(f"not a loop-IR expression: {e!r}")

    def buffer_decl(self, b: Buffer) -> str:
        shape = ", ".join(self.expr(s) for s in b.shape)
        extra = f", strides=[{', '.join(self.expr(s) for s in b.strides)}]" if b.strides else ""
        if not (isinstance(b.elem_offset, int) and b.elem_offset == 0):
            extra += f", offset={self.expr(b.elem_offset)}"
        return f"{self.names(b)}: {b.dtype}[{shape}] @{b.scope}{extra}"

    # ----- statements -------------------------------------------------------------------
    def stmt(self, s, indent: int = 0) -> list[str]:
        pad = "  " * indent
        if isinstance(s, Seq):
            return [line for x in s.stmts for line in self.stmt(x, indent)]
        if isinstance(s, Store):
            idx = ", ".join(self.expr(i) for i in s.indices)
            return [f"{pad}{self.names(s.buffer)}[{idx}] = {self.expr(s.value)}"]
        if isinstance(s, For):
            ann = "".join(f" {k}={v!r}" for k, v in s.annotations)
            head = (
                f"{pad}for {self.names(s.var)} in range({self.expr(s.min)}, "
                f"{self.expr(s.extent)}) {s.kind.value}{ann}:"
            )
            return [head] + self.stmt(s.body, indent + 1)
        if isinstance(s, IfThenElse):
            out = [f"{pad}if {self.expr(s.cond)}:"] + self.stmt(s.then_case, indent + 1)
            if s.else_case is not None:
                out += [f"{pad}else:"] + self.stmt(s.else_case, indent + 1)
            return out
        if isinstance(s, Allocate):
            return [f"{pad}alloc {self.buffer_decl(s.buffer)}"] + self.stmt(s.body, indent)
        if isinstance(s, Attr):
            v = self.expr(s.value) if hasattr(s.value, "dtype") else repr(s.value)
            return [f"{pad}attr {s.key} = {v}:"] + self.stmt(s.body, indent + 1)
        if isinstance(s, Evaluate):
            return [f"{pad}{self.expr(s.value)}"]
        if isinstance(s, LetStmt):
            return [f"{pad}let {self.names(s.var)} = {self.expr(s.value)}"] + self.stmt(
                s.body, indent
            )
        raise TypeError(f"not a loop-IR statement: {s!r}")

    def func(self, f: PrimFunc) -> str:
        params = ", ".join(self.buffer_decl(b) for b in f.params)
        attrs = "".join(f" {k}={v!r}" for k, v in f.attrs)
        return "\n".join([f"func {f.name}({params}){attrs}:"] + self.stmt(f.body, 1))


def print_expr(e) -> str:
    return Printer().expr(e)


def print_stmt(s) -> str:
    return "\n".join(Printer().stmt(s))


def print_func(f: PrimFunc) -> str:
    return Printer().func(f)
