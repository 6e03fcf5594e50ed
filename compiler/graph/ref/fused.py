"""`vtac.fused_elementwise`: a chain of element-wise nodes (typically an accelerator boundary:
unpack -> dequantize -> float activation -> quantize -> pack) as one node.

attrs:
- `steps`: the original nodes in order, each `{"op", "inputs", "attrs"}`; an input is `"iK"`
  (the fused node's K-th input) or `"sK"` (the output of step K). The last step's output is the
  node's output.
The reference runs the steps one after the other with their own reference kernels: the fused
node means exactly the sequence it replaced (CPU kernels are checked against this).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KERNELS, KernelCtx, as_tuple, kernel

FUSED_OP = "vtac.fused_elementwise"


def step_args(step: dict, inputs, results: list) -> list:
    """The arguments of `step` from the fused node's inputs and the earlier steps' results."""
    args = []
    for ref in step["inputs"]:
        k = int(ref[1:])
        args.append(inputs[k] if ref[0] == "i" else results[k])
    return args


@kernel(FUSED_OP)
def fused_elementwise(ctx: KernelCtx, *inputs: np.ndarray) -> np.ndarray:
    steps = ctx.attr("steps")
    if not steps:
        raise ctx.error("no steps")
    results: list[np.ndarray] = []
    for k, step in enumerate(steps):
        fn = KERNELS.get(step["op"])
        if fn is None:
            raise ctx.error(f"step {k}: no kernel for {step['op']}")
        sub = KernelCtx(dict(step["attrs"]), ctx.opset, f"{ctx.node_name}/{k}", step["op"])
        results.append(np.asarray(as_tuple(fn(sub, *step_args(step, inputs, results)))[0]))
    return results[-1]
