"""A plain NumPy interpreter of the loop IR: the executable definition of its semantics.

`run(func, {name: array})` executes a PrimFunc on host arrays (one per parameter buffer, looked
up by buffer name; outputs are written in place) and returns the dict. It is slow (one Python
step per scalar operation) and meant for tests on small shapes.

Semantics: integer arithmetic is exact and wraps when stored (or cast) to a narrower integer
type; `shr` is arithmetic; `floordiv`/`floormod` round toward negative infinity and `div`
truncates for integers; float arithmetic is done in float64 and rounded when stored to a
float32 buffer. Loop kinds (parallel, vectorized, unrolled, vthread) do not change results.
Allocations start zero-filled. Accelerator intrinsics (`vta.*` calls) are not interpretable.
"""

from __future__ import annotations

import math

import numpy as np

from compiler.tir.affine import PY_BINOPS
from compiler.tir.nodes import (
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

_BITS = {"int8": 8, "uint8": 8, "int16": 16, "int32": 32, "int64": 64}


class InterpError(RuntimeError):
    """The interpreter met something it cannot execute (names the node)."""


def wrap(value, dtype: str):
    """Convert a Python number to `dtype`'s value set (two's-complement wrap for integers)."""
    if dtype in _BITS:
        bits = _BITS[dtype]
        v = int(value) & ((1 << bits) - 1)
        if dtype != "uint8" and v >= 1 << (bits - 1):
            v -= 1 << bits
        return v
    if dtype == "bool":
        return bool(value)
    if dtype == "float32":
        return float(np.float32(value))
    return float(value)


_MATH = {
    "exp": math.exp,
    "sqrt": math.sqrt,
    "tanh": math.tanh,
    "log": math.log,
    "fabs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
}


class Interpreter:
    def __init__(self, arrays: dict[Buffer, np.ndarray]):
        self.mem = dict(arrays)
        self.env: dict[Var, object] = {}

    # ----- expressions ------------------------------------------------------------------
    def expr(self, e):
        if isinstance(e, Var):
            try:
                return self.env[e]
            except KeyError:
                raise InterpError(f"variable {e.name} used outside its loop") from None
        if isinstance(e, Const):
            return e.value
        if isinstance(e, BinOp):
            return self.binop(e)
        if isinstance(e, Cast):
            return wrap(self.expr(e.value), e.dtype)
        if isinstance(e, Select):
            return self.expr(e.true_value) if self.expr(e.cond) else self.expr(e.false_value)
        if isinstance(e, Load):
            arr = self._array(e.buffer)
            idx = tuple(int(self.expr(i)) for i in e.indices)
            self._check(e.buffer, idx, arr)
            v = arr[idx]
            return float(v) if e.buffer.dtype.startswith("float") else int(v)
        if isinstance(e, Call):
            fn = _MATH.get(e.name)
            if fn is None:
                raise InterpError(f"call {e.name}: not an interpretable intrinsic")
            return wrap(fn(*[self.expr(a) for a in e.args]), e.dtype)
        raise InterpError(f"not an expression: {e!r}")

    def binop(self, e: BinOp):
        a, b = self.expr(e.a), self.expr(e.b)
        op = e.op
        isint = e.a.dtype in _BITS
        if op == "div":
            if isint:
                q = abs(a) // abs(b)
                return q if (a >= 0) == (b >= 0) else -q
            return a / b
        if op == "floordiv" and not isint:
            return math.floor(a / b)
        if op == "and":
            return bool(a) and bool(b)
        if op == "or":
            return bool(a) or bool(b)
        fn = PY_BINOPS.get(op)
        if fn is None:
            raise InterpError(f"binary operator {op!r} is not interpretable")
        return fn(a, b)

    # ----- statements -------------------------------------------------------------------
    def _array(self, buf: Buffer) -> np.ndarray:
        try:
            return self.mem[buf]
        except KeyError:
            raise InterpError(f"buffer {buf.name} is neither a parameter nor allocated") from None

    def _check(self, buf, idx, arr):
        if any(i < 0 or i >= n for i, n in zip(idx, arr.shape, strict=True)):
            raise InterpError(
                f"buffer {buf.name}: index {list(idx)} out of bounds {list(arr.shape)}"
            )

    def stmt(self, s):
        if isinstance(s, Seq):
            for x in s.stmts:
                self.stmt(x)
        elif isinstance(s, Store):
            arr = self._array(s.buffer)
            idx = tuple(int(self.expr(i)) for i in s.indices)
            self._check(s.buffer, idx, arr)
            arr[idx] = wrap(self.expr(s.value), s.buffer.dtype)
        elif isinstance(s, For):
            lo, n = int(self.expr(s.min)), int(self.expr(s.extent))
            for v in range(lo, lo + n):
                self.env[s.var] = v
                self.stmt(s.body)
            self.env.pop(s.var, None)
        elif isinstance(s, Allocate):
            shape = tuple(
                int(self.expr(x)) if not isinstance(x, int) else x for x in s.buffer.shape
            )
            self.mem[s.buffer] = np.zeros(shape, dtype=s.buffer.dtype)
            self.stmt(s.body)
            del self.mem[s.buffer]
        elif isinstance(s, IfThenElse):
            if self.expr(s.cond):
                self.stmt(s.then_case)
            elif s.else_case is not None:
                self.stmt(s.else_case)
        elif isinstance(s, Attr):
            self.stmt(s.body)
        elif isinstance(s, LetStmt):
            self.env[s.var] = self.expr(s.value)
            self.stmt(s.body)
        elif isinstance(s, Evaluate):
            self.expr(s.value)
        else:
            raise InterpError(f"not a statement: {s!r}")


def run(func: PrimFunc, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute `func` with parameter arrays given by buffer name; outputs are updated in place."""
    mem = {}
    for b in func.params:
        if b.name not in arrays:
            raise InterpError(f"{func.name}: no array for parameter {b.name}")
        a = arrays[b.name]
        if tuple(a.shape) != tuple(b.shape) or a.dtype != np.dtype(b.dtype):
            raise InterpError(
                f"{func.name}: parameter {b.name} wants {b.dtype}{list(b.shape)}, "
                f"got {a.dtype}{list(a.shape)}"
            )
        mem[b] = a
    Interpreter(mem).stmt(func.body)
    return arrays
