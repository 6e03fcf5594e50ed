"""The reference kernels: one NumPy function per op, the executable definition of each op's
semantics (ONNX semantics for ONNX ops, `docs/graph.md` for `vtac.*` ops).

A kernel is `fn(ctx, *inputs) -> array | tuple[array, ...]`; an omitted optional input arrives
as None. Kernels are registered with `@kernel("OpType", ...)` in the modules imported below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


class KernelError(ValueError):
    """An op cannot be evaluated (bad attribute, unsupported variant); names the node."""


@dataclass(frozen=True)
class KernelCtx:
    """What a kernel may know besides its inputs: the node's attributes, name and opset."""

    attrs: Mapping[str, Any]
    opset: int
    node_name: str
    op: str
    num_outputs: int = 1

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def error(self, msg: str) -> KernelError:
        return KernelError(f"{self.op} node {self.node_name!r}: {msg}")


Kernel = Callable[..., Any]
KERNELS: dict[str, Kernel] = {}


def kernel(*ops: str) -> Callable[[Kernel], Kernel]:
    def register(fn: Kernel) -> Kernel:
        for op in ops:
            KERNELS[op] = fn
        return fn

    return register


def as_tuple(result: Any) -> tuple[np.ndarray, ...]:
    if isinstance(result, tuple | list):
        return tuple(result)
    return (result,)


# Importing the kernel modules registers their kernels.
from compiler.graph.ref import (  # noqa: E402, F401
    elementwise,
    extra,
    fused,
    nn,
    pool,
    reduce,
    resize,
    shape_ops,
    vtac_im2col,
    vtac_mul,
    vtac_ops,
    vtac_pool,
)
