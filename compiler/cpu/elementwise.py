"""Element-wise operators: unary activations, broadcast binary ops, batch-norm (inference), and
the int8 boundary ops (quantize, dequantize, requantize). Each is a loop-IR generator.

Every generator returns a PrimFunc `name(inputs..., out)` over C-contiguous buffers, built as a
tensor expression with a CPU schedule and lowered by the shared `compiler.tir.lower`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler.cpu.nest import MapKnobs, broadcast_index, collapse_broadcast
from compiler.cpu.te_map import te_map
from compiler.tir.nodes import BinOp, Call, Cast, Const, Expr, PrimFunc

F32 = "float32"


def _f(x: float) -> Const:
    return Const(float(x), F32)


def fmax(a: Expr, b: Expr) -> Expr:
    return BinOp("max", a, b)


def fmin(a: Expr, b: Expr) -> Expr:
    return BinOp("min", a, b)


def hard_sigmoid_expr(x: Expr, alpha: float = 0.2, beta: float = 0.5) -> Expr:
    return fmin(fmax(x * _f(alpha) + _f(beta), _f(0.0)), _f(1.0))


# name -> builder of the output expression from the input expression and attributes
UNARY: dict[str, Callable[..., Expr]] = {
    "relu": lambda x: fmax(x, _f(0.0)),
    "sigmoid": lambda x: _f(1.0) / (_f(1.0) + Call("exp", (_f(0.0) - x,), F32)),
    "tanh": lambda x: Call("tanh", (x,), F32),
    "hard_sigmoid": lambda x, alpha=0.2, beta=0.5: hard_sigmoid_expr(x, alpha, beta),
    "hard_swish": lambda x: x * hard_sigmoid_expr(x, 1.0 / 6.0, 0.5),
    "clip": lambda x, min=float("-inf"), max=float("inf"): fmin(fmax(x, _f(min)), _f(max)),
    "leaky_relu": lambda x, alpha=0.01: BinOp("max", x, _f(0.0)) + fmin(x, _f(0.0)) * _f(alpha),
    "exp": lambda x: Call("exp", (x,), F32),
    "log": lambda x: Call("log", (x,), F32),
    "sqrt": lambda x: Call("sqrt", (x,), F32),
    "abs": lambda x: Call("fabs", (x,), F32),
    "neg": lambda x: _f(0.0) - x,
    "identity": lambda x: x,
}

BINARY: dict[str, Callable[[Expr, Expr], Expr]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "max": fmax,
    "min": fmin,
    "pow": lambda a, b: Call("pow", (a, b), F32),
}


def elementwise(
    name: str,
    out_shape: Sequence[int],
    inputs: Sequence[tuple[str, Sequence[int], str]],
    fn: Callable[[list[Expr]], Expr],
    out_dtype: str = F32,
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """`out[i] = fn([in_k[broadcast(i)] ...])` with NumPy broadcasting of every input.

    A tensor expression over the output (after merging broadcast-compatible axes, see
    `iteration_shape`) with the data-parallel CPU schedule of `te_map`; `knobs` are MapKnobs
    of the iteration shape (default: `nest.default_map_knobs`).
    """
    for in_name, shape, _ in inputs:
        if len(shape) > len(out_shape) or any(
            d not in (1, o) for d, o in zip(reversed(shape), reversed(out_shape), strict=False)
        ):
            raise ValueError(
                f"{name}: input {in_name} of shape {tuple(shape)} does not broadcast to "
                f"{tuple(out_shape)}"
            )
    oshape, ishapes = collapse_broadcast(list(out_shape), [list(s) for _, s, _ in inputs])
    merged = [(n, s, dt) for (n, _, dt), s in zip(inputs, ishapes, strict=True)]

    def body(tensors, idx):
        return fn([t[tuple(broadcast_index(idx, t.shape, len(oshape)))] for t in tensors])

    return te_map(name, oshape, merged, body, out_dtype, knobs)


def iteration_shape(out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]]) -> list[int]:
    """The loop nest `elementwise` runs over (the output with broadcast-alike axes merged):
    the shape its MapKnobs are for (`nest.map_knob_space(iteration_shape(...))`)."""
    return collapse_broadcast(list(out_shape), [list(s) for s in in_shapes])[0]


def unary(op: str, shape: Sequence[int], knobs: MapKnobs | None = None, **attrs) -> PrimFunc:
    """`out = op(x, **attrs)`; `knobs` for `iteration_shape(shape, [shape])`."""
    if op not in UNARY:
        raise ValueError(f"unary op {op!r} not supported on the CPU; known: {sorted(UNARY)}")

    def fn(v: list[Expr]) -> Expr:
        return UNARY[op](v[0], **attrs)

    return elementwise(op, shape, [("x", shape, F32)], fn, knobs=knobs)


def binary(
    op: str,
    a_shape: Sequence[int],
    b_shape: Sequence[int],
    out_shape=None,
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """`out = op(a, b)` with broadcasting; `knobs` for `iteration_shape(out, [a, b])`."""
    if op not in BINARY:
        raise ValueError(f"binary op {op!r} not supported on the CPU; known: {sorted(BINARY)}")
    out_shape = out_shape or _broadcast_shape(op, a_shape, b_shape)
    inputs = [("a", a_shape, F32), ("b", b_shape, F32)]
    return elementwise(op, out_shape, inputs, lambda v: BINARY[op](*v), knobs=knobs)


def _broadcast_shape(op: str, a: Sequence[int], b: Sequence[int]) -> list[int]:
    rank = max(len(a), len(b))
    a = [1] * (rank - len(a)) + list(a)
    b = [1] * (rank - len(b)) + list(b)
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            raise ValueError(f"{op}: shapes {tuple(a)} and {tuple(b)} do not broadcast")
        out.append(max(x, y))
    return out


def batch_norm(
    shape: Sequence[int], eps: float = 1e-5, axis: int = 1, knobs: MapKnobs | None = None
) -> PrimFunc:
    """Inference batch-norm `(x - mean) / sqrt(var + eps) * gamma + beta`, params along `axis`."""
    pshape = [1] * len(shape)
    pshape[axis] = shape[axis]
    params = [(n, pshape, F32) for n in ("gamma", "beta", "mean", "var")]

    def fn(v):
        x, gamma, beta, mean, var = v
        return (x - mean) * (gamma / Call("sqrt", (var + _f(eps),), F32)) + beta

    return elementwise("batch_norm", shape, [("x", shape, F32)] + params, fn, knobs=knobs)


def quantize(
    shape: Sequence[int],
    scale: float,
    zero_point: int = 0,
    dtype="int8",
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """ONNX QuantizeLinear: `saturate(round_half_even(x / scale) + zero_point)`."""
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)

    def fn(v):
        q = Call("round", (v[0] / _f(scale),), F32) + _f(zero_point)
        return Cast(dtype, fmin(fmax(q, _f(lo)), _f(hi)))

    return elementwise("quantize", shape, [("x", shape, F32)], fn, dtype, knobs)


def dequantize(
    shape: Sequence[int],
    scale: float,
    zero_point: int = 0,
    dtype="int8",
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """ONNX DequantizeLinear: `(float(q) - zero_point) * scale`."""

    def fn(v):
        return (Cast(F32, Cast("int32", v[0])) - _f(zero_point)) * _f(scale)

    return elementwise("dequantize", shape, [("q", shape, dtype)], fn, knobs=knobs)


def requantize(
    shape: Sequence[int],
    shift: int,
    lo: int = -128,
    hi: int = 127,
    round_half_up: bool = False,
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """int32 -> int8 as the accelerator's epilogue: `clip(x >> shift, lo, hi)` (arithmetic
    shift, i.e. floor division by 2**shift; `round_half_up` adds 2**(shift-1) first); a
    negative shift shifts left."""
    if not -31 < shift < 31:
        raise ValueError(f"requantize: shift must be in (-31, 31), got {shift}")

    def fn(v):
        x = v[0]
        if round_half_up and shift > 0:
            x = x + Const(1 << (shift - 1))
        y = x >> Const(shift) if shift > 0 else (x << Const(-shift) if shift < 0 else x)
        return Cast("int8", BinOp("min", BinOp("max", y, Const(lo)), Const(hi)))

    return elementwise("requantize", shape, [("x", shape, "int32")], fn, "int8", knobs)
