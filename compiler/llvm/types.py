"""LLVM types of loop-IR dtypes and small helpers on scalar/vector LLVM types."""

from __future__ import annotations

from compiler.llvm.binding import ir

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
REG_TYPES = {
    "bool": I1,
    "int8": I8,
    "uint8": I8,
    "int16": I16,
    "int32": I32,
    "int64": I64,
    "float32": ir.FloatType(),
    "float64": ir.DoubleType(),
}
UNSIGNED = ("uint8", "bool")


def mem_type(dtype: str) -> ir.Type:
    return I8 if dtype == "bool" else REG_TYPES[dtype]


def scalar(t: ir.Type) -> ir.Type:
    return t.element if isinstance(t, ir.VectorType) else t


def widen(like: ir.Type, elem: ir.Type) -> ir.Type:
    """`elem`, as a vector with as many lanes as `like` if `like` is a vector."""
    return ir.VectorType(elem, like.count) if isinstance(like, ir.VectorType) else elem


def zero(t: ir.Type) -> ir.Constant:
    s = scalar(t)
    z = 0.0 if isinstance(s, ir.FloatType | ir.DoubleType) else 0
    return ir.Constant(t, [z] * t.count) if isinstance(t, ir.VectorType) else ir.Constant(t, z)


def type_suffix(t: ir.Type) -> str:
    s = scalar(t)
    name = "f32" if isinstance(s, ir.FloatType) else "f64"
    return f"v{t.count}{name}" if isinstance(t, ir.VectorType) else name


def elem_bytes(t: ir.Type) -> int:
    if isinstance(t, ir.FloatType):
        return 4
    if isinstance(t, ir.DoubleType):
        return 8
    return max(1, t.width // 8)
