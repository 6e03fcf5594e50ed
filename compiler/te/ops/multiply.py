"""Products for the ALU's MUL (`HwConfig.ALU_MUL`): tensor x tensor, x immediate, and x a
per-(batch, channel) gate broadcast over H and W. In place on the first operand, as the ALU
computes `ACC[dst] = ACC[dst] * (imm or ACC[src])` (int32, wrapping). And HardSwish's integer
formula as such stages (`compiler/graph/hardswish_int.py`), which needs a second copy of its
input: a zero tile (a GEMM reset, one cycle a row) plus the input (one tensor ADD)."""

from __future__ import annotations

from compiler.te.ops import nn
from compiler.te.tensor import Tensor, cast, compute
from compiler.tir.nodes import Const

MAX_PORTABLE_SHIFT = 15  # SHR immediates every VTA implementation reads alike


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


def zeros(shape: tuple[int, ...], name: str = "zero") -> Tensor:
    """An int32 zero tile: scheduled as a GEMM reset (`is_zero_stage`)."""
    return compute(shape, lambda *i: Const(0, "int32"), name=name)


def is_zero_stage(t: Tensor) -> bool:
    body = getattr(t.op, "body", None)
    return isinstance(body, Const) and int(body.value) == 0


def hardswish_stages(
    x: Tensor,
    copy: Tensor | None,
    offset: int,
    six: int,
    mult: int,
    pre_shift: int,
    bias: int,
    name: str,
) -> list[Tensor]:
    """((x * clip(x + offset, 0, six) * mult) >> pre_shift) + bias as accumulator stages (the
    last is the result; `compiler/graph/hardswish_int.py`). Per row of lanes:

    - c = 0 + x: a copy (the ALU works in place and x is read again), unless `copy` (x loaded
      a second time) is given;
    - g = min(max(c + offset, 0), six);
    - p = x * g * mult: a tensor MUL, then an immediate MUL;
    - (p >> pre_shift) + bias: immediate SHRs (<= 15 each) and an immediate ADD.
    """
    out = []
    if copy is None:
        z = zeros(x.shape, name=f"{name}.zero")
        copy = nn.add(z, x, name=f"{name}.copy")
        out += [z, copy]
    g1 = nn.add_imm(copy, offset, name=f"{name}.offset")
    g2, g3 = nn.clip(g1, 0, six, name=f"{name}.gate")
    p = multiply(x, g3, name=f"{name}.mul")
    out += [g1, g2, g3, p, multiply_imm(p, mult, name=f"{name}.scale")]
    rest = pre_shift
    while rest:  # floor shifts compose: (v >> a) >> b == v >> (a + b)
        step = min(rest, MAX_PORTABLE_SHIFT)
        rest -= step
        out.append(nn.shift_right(out[-1], step, name=f"{name}.pre_shift{len(out)}"))
    if bias:
        out.append(nn.add_imm(out[-1], bias, name=f"{name}.bias"))
    return out
