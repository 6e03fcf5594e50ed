"""vtac's multiplying int8 ops: they need the ALU's MUL (`HwConfig.ALU_MUL`; VTA's fsim has it,
its Chisel and HLS do not). Both give an int32 product that a `vtac.requantize` rounds to int8.

- `vtac.hardswish(q: i8) {offset, six, mult, pre_shift, bias}` -> i32: ((q * clip(q + offset,
  0, six) * mult) >> pre_shift) + bias (HardSwish and a scalar affine after it as integers,
  `compiler/graph/hardswish_int.py`: |q * g * mult| < 2^31 by construction).
- `vtac.mul(a: i8, b: i8)` -> i32: a * b; b has a's shape or broadcasts over H, W (a
  squeeze-excite gate [N, C, 1, 1]; packed: [N/bn, C/bc, 1, 1, bn, bc]).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.hardswish_int import accumulator
from compiler.graph.ref import KernelCtx, kernel


def _int32(ctx: KernelCtx, v: np.ndarray) -> np.ndarray:
    if v.size and (v.min() < -(2**31) or v.max() >= 2**31):
        raise ctx.error("the product overflows int32")
    return v.astype(np.int32)


@kernel("vtac.hardswish")
def hardswish(ctx: KernelCtx, q: np.ndarray) -> np.ndarray:
    if q.dtype != np.int8:
        raise ctx.error(f"expects an int8 operand, got {q.dtype}")
    args = (int(ctx.attr(k, 0)) for k in ("offset", "six", "mult", "pre_shift", "bias"))
    return _int32(ctx, accumulator(q, *args))


@kernel("vtac.mul")
def mul(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype != np.int8 or b.dtype != np.int8:
        raise ctx.error(f"expects int8 operands, got {a.dtype} and {b.dtype}")
    if np.broadcast_shapes(a.shape, b.shape) != a.shape:
        raise ctx.error(f"operand shapes {a.shape} and {b.shape}: b must broadcast to a")
    return a.astype(np.int32) * b.astype(np.int32)
