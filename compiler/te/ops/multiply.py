"""Products for the ALU's MUL (`HwConfig.ALU_MUL`): tensor x tensor, x immediate, and x a
per-(batch, channel) gate broadcast over H and W. In place on the first operand, as the ALU
computes `ACC[dst] = ACC[dst] * (imm or ACC[src])` (int32, wrapping)."""

from __future__ import annotations

from compiler.te.tensor import Tensor, cast, compute
from compiler.tir.nodes import Const


def multiply(x: Tensor, y: Tensor, name: str = "mul") -> Tensor:
    """x * y (same shape), y converted to x's type: one tensor-operand ALU MUL per row."""
    if x.shape != y.shape:
        raise ValueError(f"{name}: shapes {x.shape} and {y.shape} differ")
    return compute(x.shape, lambda *i: x[i] * cast(x.dtype, y[i]), name=name)


def multiply_imm(x: Tensor, c: int, name: str = "muli") -> Tensor:
    return compute(x.shape, lambda *i: x[i] * Const(c, x.dtype), name=name)


def multiply_gate(x: Tensor, gate: Tensor, name: str = "mul_gate") -> Tensor:
    """x[n, c, h, w, b, l] * gate[n, c, 0, 0, b, l] on packed 6-D tensors: the gate's row is
    the ALU's source for every spatial position (a source row that does not move with h, w)."""
    if len(x.shape) != 6 or gate.shape != (*x.shape[:2], 1, 1, *x.shape[4:]):
        raise ValueError(f"{name}: gate {gate.shape} does not broadcast over {x.shape}")
    return compute(
        x.shape,
        lambda *i: x[i] * cast(x.dtype, gate[(i[0], i[1], Const(0), Const(0), i[4], i[5])]),
        name=name,
    )
