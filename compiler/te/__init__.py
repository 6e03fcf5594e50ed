"""Tensor expressions: placeholders, computes with index lambdas, reductions (see docs/te.md)."""

from compiler.te.tensor import (  # noqa: F401
    ComputeOp,
    IterVar,
    PlaceholderOp,
    Reduce,
    Tensor,
    cast,
    compute,
    placeholder,
    reduce_axis,
    sum_reduce,
    topo_order,
)
