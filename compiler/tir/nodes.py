"""Loop IR: the target-neutral, immutable program representation both backends consume.

Grammar (see docs/loop-ir.md):

    expr := Var | Const | BinOp(op, a, b) | Cast(dtype, x) | Select(c, t, f)
          | Load(buffer, [expr...]) | Call(name, [expr...], dtype)
    stmt := Store(buffer, [expr...], expr) | For(var, min, extent, kind, body, annotations)
          | Seq([stmt...]) | IfThenElse(cond, then, else?) | Allocate(buffer, body)
          | Attr(key, value, body) | Evaluate(expr) | LetStmt(var, expr, body)
    func := PrimFunc(name, params=[Buffer...], body, attrs)

Nodes are frozen dataclasses; change one with `dataclasses.replace`. Vars and Buffers compare by
identity (two loops may both call their variable `i`); use `structural_equal` / the printer for
structural comparison. Buffers are multi-dimensional; indices are flattened by the backends
(row-major unless `strides` is given). `scope` names the memory a buffer lives in: "global"
(DRAM / host memory), "local" (registers / stack), or an accelerator SRAM scope such as
"vta.inp", "vta.wgt", "vta.acc".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Union

DTYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "float64", "bool")


def _check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; loop IR types: {', '.join(DTYPES)}")
    return dtype


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")


# ---------------------------------------------------------------------------------------------
# Expressions


class ExprOps:
    """Python operators build expressions: `i * 4 + j`, `x.load[i] < 0`, ..."""

    dtype: str

    def __add__(self, o):
        return BinOp("add", self, as_expr(o, self.dtype))

    def __radd__(self, o):
        return BinOp("add", as_expr(o, self.dtype), self)

    def __sub__(self, o):
        return BinOp("sub", self, as_expr(o, self.dtype))

    def __rsub__(self, o):
        return BinOp("sub", as_expr(o, self.dtype), self)

    def __mul__(self, o):
        return BinOp("mul", self, as_expr(o, self.dtype))

    def __rmul__(self, o):
        return BinOp("mul", as_expr(o, self.dtype), self)

    def __floordiv__(self, o):
        return BinOp("floordiv", self, as_expr(o, self.dtype))

    def __mod__(self, o):
        return BinOp("floormod", self, as_expr(o, self.dtype))

    def __truediv__(self, o):
        return BinOp("div", self, as_expr(o, self.dtype))

    def __neg__(self):
        return BinOp("sub", Const(0, self.dtype), self)

    def __lt__(self, o):
        return BinOp("lt", self, as_expr(o, self.dtype))

    def __le__(self, o):
        return BinOp("le", self, as_expr(o, self.dtype))

    def __gt__(self, o):
        return BinOp("gt", self, as_expr(o, self.dtype))

    def __ge__(self, o):
        return BinOp("ge", self, as_expr(o, self.dtype))

    def __rshift__(self, o):
        return BinOp("shr", self, as_expr(o, self.dtype))

    def __lshift__(self, o):
        return BinOp("shl", self, as_expr(o, self.dtype))


@dataclass(frozen=True, eq=False)
class Var(ExprOps):
    name: str
    dtype: str = "int32"

    def __post_init__(self):
        _check_dtype(self.dtype)


@dataclass(frozen=True)
class Const(ExprOps):
    value: int | float | bool
    dtype: str = "int32"

    def __post_init__(self):
        _check_dtype(self.dtype)


# op -> (printed symbol, result is bool)
BINOPS: dict[str, tuple[str, bool]] = {
    "add": ("+", False),
    "sub": ("-", False),
    "mul": ("*", False),
    "div": ("/", False),  # float division, or truncating integer division
    "floordiv": ("//", False),
    "floormod": ("%", False),
    "min": ("min", False),
    "max": ("max", False),
    "shr": (">>", False),  # arithmetic for signed types
    "shl": ("<<", False),
    "and": ("&&", True),
    "or": ("||", True),
    "eq": ("==", True),
    "ne": ("!=", True),
    "lt": ("<", True),
    "le": ("<=", True),
    "gt": (">", True),
    "ge": (">=", True),
}


@dataclass(frozen=True)
class BinOp(ExprOps):
    op: str
    a: Expr
    b: Expr

    def __post_init__(self):
        if self.op not in BINOPS:
            raise ValueError(f"unknown binary op {self.op!r}")
        if self.a.dtype != self.b.dtype:
            raise TypeError(
                f"{self.op}: operand types differ ({self.a.dtype} vs {self.b.dtype}); insert a Cast"
            )

    @property
    def dtype(self) -> str:
        return "bool" if BINOPS[self.op][1] else self.a.dtype


@dataclass(frozen=True)
class Cast(ExprOps):
    dtype: str
    value: Expr

    def __post_init__(self):
        _check_dtype(self.dtype)


@dataclass(frozen=True)
class Select(ExprOps):
    cond: Expr
    true_value: Expr
    false_value: Expr

    @property
    def dtype(self) -> str:
        return self.true_value.dtype


@dataclass(frozen=True)
class Load(ExprOps):
    buffer: Buffer
    indices: tuple[Expr, ...]

    @property
    def dtype(self) -> str:
        return self.buffer.dtype


@dataclass(frozen=True)
class Call(ExprOps):
    """A pure intrinsic (`exp`, `tanh`, `sqrt`, ...) or a target intrinsic (`vta.*`)."""

    name: str
    args: tuple[Expr, ...]
    dtype: str = "int32"


Expr = Union[Var, Const, BinOp, Cast, Select, Load, Call]  # noqa: UP007


def as_expr(x, dtype: str = "int32") -> Expr:
    """Wrap a Python number as a Const of `dtype` (expressions pass through)."""
    if isinstance(x, Var | Const | BinOp | Cast | Select | Load | Call):
        return x
    if isinstance(x, bool):
        return Const(x, "bool")
    if isinstance(x, int | float):
        return Const(float(x) if is_float(dtype) else int(x), dtype)
    raise TypeError(f"cannot use {x!r} as a loop-IR expression")


def min_expr(a, b) -> BinOp:
    a = as_expr(a)
    return BinOp("min", a, as_expr(b, a.dtype))


def max_expr(a, b) -> BinOp:
    a = as_expr(a)
    return BinOp("max", a, as_expr(b, a.dtype))


# ---------------------------------------------------------------------------------------------
# Buffers


@dataclass(frozen=True, eq=False)
class Buffer:
    """A multi-dimensional array: `shape` in elements (ints or Vars), row-major unless `strides`."""

    name: str
    shape: tuple[Expr | int, ...]
    dtype: str = "float32"
    scope: str = "global"
    strides: tuple[Expr | int, ...] | None = None
    elem_offset: Expr | int = 0

    def __post_init__(self):
        _check_dtype(self.dtype)

    def __getitem__(self, idx) -> Load:
        """`buf[i, j]` builds a Load."""
        idx = idx if isinstance(idx, tuple) else (idx,)
        if len(idx) != len(self.shape):
            raise IndexError(
                f"buffer {self.name} has {len(self.shape)} dims, indexed with {len(idx)}"
            )
        return Load(self, tuple(as_expr(i) for i in idx))


# ---------------------------------------------------------------------------------------------
# Statements


class ForKind(StrEnum):
    SERIAL = "serial"
    PARALLEL = "parallel"  # iterations may run on different CPU threads
    VECTORIZED = "vectorized"  # innermost; the backend emits SIMD code
    UNROLLED = "unrolled"
    VIRTUAL_THREAD = "vthread"  # accelerator latency hiding (ping-pong buffers)


@dataclass(frozen=True)
class Store:
    buffer: Buffer
    indices: tuple[Expr, ...]
    value: Expr


@dataclass(frozen=True)
class For:
    var: Var
    min: Expr
    extent: Expr
    kind: ForKind
    body: Stmt
    annotations: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Seq:
    stmts: tuple[Stmt, ...]


@dataclass(frozen=True)
class IfThenElse:
    cond: Expr
    then_case: Stmt
    else_case: Stmt | None = None


@dataclass(frozen=True)
class Allocate:
    """`buffer` exists (in its scope) for the duration of `body`."""

    buffer: Buffer
    body: Stmt


@dataclass(frozen=True)
class Attr:
    """An annotation on a region: pragmas (`dma_copy`, `alu`), coprocessor scopes, etc."""

    key: str
    value: object
    body: Stmt


@dataclass(frozen=True)
class Evaluate:
    value: Expr


@dataclass(frozen=True)
class LetStmt:
    var: Var
    value: Expr
    body: Stmt


Stmt = Union[Store, For, Seq, IfThenElse, Allocate, Attr, Evaluate, LetStmt]  # noqa: UP007


@dataclass(frozen=True)
class PrimFunc:
    """A kernel: parameters are buffers in global scope; `attrs` carry target hints."""

    name: str
    params: tuple[Buffer, ...]
    body: Stmt
    attrs: tuple[tuple[str, object], ...] = field(default=())

    def attr(self, key: str, default=None):
        return dict(self.attrs).get(key, default)


def seq(*stmts: Stmt | None) -> Stmt:
    """A Seq of the non-None statements, flattened; a single statement stands alone."""
    flat: list[Stmt] = []
    for s in stmts:
        if s is None:
            continue
        if isinstance(s, Seq):
            flat.extend(s.stmts)
        else:
            flat.append(s)
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))
