"""Tensor expressions: *what* an operator computes, independent of how it is scheduled.

    A = placeholder((n, k), "int8", "A")
    k = reduce_axis(k_extent, "k")
    C = compute((n, m), lambda i, j: sum_reduce(Cast("int32", A[i, k]) * Cast("int32", B[j, k]), k))

Expressions are loop-IR expressions (`compiler.tir.nodes`); `T[i, j]` builds a `Load` of the
tensor's buffer, which lowering later redirects to wherever the schedule realizes the tensor.
Axes are `IterVar`s: loop-IR `Var`s that also carry their extent and kind (data or reduce), so
they can be used directly inside expressions. A `Reduce` may only appear as the whole body of a
`compute`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from compiler.tir.nodes import Buffer, Cast, Const, Expr, Load, Var, as_expr
from compiler.tir.visit import walk


@dataclass(frozen=True, eq=False)
class IterVar(Var):
    """A loop axis: a Var with a constant extent (range `0 .. extent-1`) and a kind."""

    extent: int = 1
    kind: str = "data"  # "data" (an output axis) or "reduce"

    def __post_init__(self):
        super().__post_init__()
        if self.kind not in ("data", "reduce"):
            raise ValueError(
                f"axis {self.name}: kind must be 'data' or 'reduce', got {self.kind!r}"
            )
        if int(self.extent) < 1:
            raise ValueError(f"axis {self.name}: extent must be >= 1, got {self.extent}")


def reduce_axis(extent: int, name: str = "k") -> IterVar:
    """A reduction axis over `0 .. extent-1`."""
    return IterVar(name, "int32", int(extent), "reduce")


@dataclass(frozen=True)
class Reduce:
    """`combiner` (only "sum") of `source` over the reduce axes `axis`, starting from `init`."""

    combiner: str
    source: Expr
    axis: tuple[IterVar, ...]
    init: Expr

    @property
    def dtype(self) -> str:
        return self.source.dtype


def sum_reduce(source: Expr, axis: IterVar | Sequence[IterVar], init: Expr | None = None) -> Reduce:
    """Sum `source` over `axis` (one reduce IterVar or several), starting from `init` (0).

    `init` may read other tensors at the output's own index (an accumulation on top of them).
    """
    axes = (axis,) if isinstance(axis, IterVar) else tuple(axis)
    for a in axes:
        if not isinstance(a, IterVar) or a.kind != "reduce":
            raise TypeError(f"sum_reduce: {a!r} is not a reduce_axis")
    if init is None:
        init = Const(0.0 if source.dtype.startswith("float") else 0, source.dtype)
    init = as_expr(init, source.dtype)
    if init.dtype != source.dtype:
        raise TypeError(f"sum_reduce: init is {init.dtype}, the sum is {source.dtype}")
    return Reduce("sum", source, axes, init)


# Buffer -> Tensor, so that a Load found in an expression leads back to its producer.
_TENSOR_OF: weakref.WeakKeyDictionary[Buffer, Tensor] = weakref.WeakKeyDictionary()


class Operation:
    """Base of the operations that produce a tensor."""

    name: str
    output: Tensor

    @property
    def inputs(self) -> list[Tensor]:
        return []


class Tensor:
    """The output of an operation; `T[i, j]` reads it inside another compute."""

    def __init__(self, op: Operation, shape: tuple[int, ...], dtype: str, name: str):
        self.op = op
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.name = name
        self.buffer = Buffer(name, self.shape, dtype)
        _TENSOR_OF[self.buffer] = self

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, idx) -> Load:
        idx = idx if isinstance(idx, tuple) else (idx,)
        if len(idx) != self.ndim:
            raise IndexError(f"tensor {self.name} has {self.ndim} dims, indexed with {len(idx)}")
        return Load(self.buffer, tuple(as_expr(i) for i in idx))

    def __repr__(self) -> str:
        return f"Tensor({self.name}, {list(self.shape)}, {self.dtype})"


def tensor_of(buffer: Buffer) -> Tensor | None:
    """The tensor whose buffer this is (None for buffers created by lowering)."""
    return _TENSOR_OF.get(buffer)


class PlaceholderOp(Operation):
    """An input: data supplied by the caller."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: str):
        self.name = name
        self.output = Tensor(self, shape, dtype, name)


class ComputeOp(Operation):
    """`output[axis] = body` for every point of `axis`; body may be a `Reduce`."""

    def __init__(
        self,
        name: str,
        axis: tuple[IterVar, ...],
        body,
        output: Tensor | None = None,
        tag: str = "",
    ):
        self.name = name
        self.axis = axis
        self.body = body
        self.tag = tag
        self.reduce_axis: tuple[IterVar, ...] = body.axis if isinstance(body, Reduce) else ()
        dtype = body.dtype
        if output is None:
            output = Tensor(self, tuple(a.extent for a in axis), dtype, name)
        # else: a schedule's rewrite of a stage (cache_read / cache_write) shares the tensor but
        # leaves `output.op` the tensor-expression definition, so that scheduling never changes
        # the expression: the same tensors can be scheduled again (another knob setting).
        self.output = output

    @property
    def inputs(self) -> list[Tensor]:
        seen: list[Tensor] = []
        for n in walk(self.body):
            if isinstance(n, Load):
                t = tensor_of(n.buffer)
                if t is not None and t not in seen:
                    seen.append(t)
        return seen

    def expr(self):
        """The body as a plain expression (the Reduce's source for reductions)."""
        return self.body.source if isinstance(self.body, Reduce) else self.body


def placeholder(shape: Sequence[int], dtype: str = "float32", name: str = "placeholder") -> Tensor:
    """An input tensor of `shape` and `dtype`."""
    return PlaceholderOp(name, tuple(shape), dtype).output


_AXIS_NAMES = "ijklmnopqrstuvw"


def compute(
    shape: Sequence[int], fcompute: Callable, name: str = "compute", tag: str = ""
) -> Tensor:
    """A tensor of `shape` whose element at `idx` is `fcompute(*idx)`.

    `fcompute` receives one data IterVar per dimension and returns an expression, or a
    `Reduce` (from `sum_reduce`) for reductions.
    """
    import inspect

    try:
        names = list(inspect.signature(fcompute).parameters)
    except (TypeError, ValueError):
        names = []
    if len(names) != len(shape):
        names = [_AXIS_NAMES[i % len(_AXIS_NAMES)] for i in range(len(shape))]
    axis = tuple(IterVar(n, "int32", int(e), "data") for n, e in zip(names, shape, strict=True))
    body = fcompute(*axis)
    if not isinstance(body, Reduce):
        body = as_expr(body)
    return ComputeOp(name, axis, body, tag=tag).output


def cast(dtype: str, x) -> Expr:
    """Convert `x` to `dtype` (no-op if it already has it)."""
    x = as_expr(x)
    return x if x.dtype == dtype else Cast(dtype, x)


def topo_order(outputs: Sequence[Tensor]) -> list[Operation]:
    """Operations reachable from `outputs`, producers before consumers (deterministic)."""
    order: list[Operation] = []
    seen: set[int] = set()

    def visit(op: Operation):
        if id(op) in seen:
            return
        seen.add(id(op))
        for t in op.inputs:
            visit(t.op)
        order.append(op)

    for t in outputs:
        visit(t.op)
    return order
