"""One float graph node on NCHW arrays: the LLVM CPU kernel (`CPU_KERNELS`) where one covers
it, else the NumPy reference kernel (`compiler.graph.ref.KERNELS`). Which one runs is settled
on the first call: a CPU kernel that raises `KernelError` (an attribute combination it does not
cover) hands the node to NumPy for good, and `why` says so.

Shared by the float plan's node steps (`float_plan.py`) and the node-by-node float executor
(`runtime/float_executor.py`).
"""

from __future__ import annotations

import numpy as np

from compiler.cpu.graph_kernels import CPU_KERNELS
from compiler.graph.ref import KERNELS, KernelCtx, KernelError, as_tuple


class NodeStep:
    """`step(env)` reads the node's inputs from `env` (value name -> array) and writes its
    outputs there. `impl` is "llvm" or "numpy"; `why` the reason for NumPy ("" for llvm)."""

    def __init__(self, node, opset: int):
        self.node = node
        self.ctx = KernelCtx(dict(node.attrs), opset, node.name, node.op, len(node.outputs))
        self.impl = "llvm" if node.op in CPU_KERNELS else "numpy"
        self.why = "" if self.impl == "llvm" else f"no CPU kernel for {node.op}"

    def __call__(self, env: dict) -> None:
        node = self.node
        args = [env[v] if v else None for v in node.inputs]
        while args and args[-1] is None:
            args.pop()
        with np.errstate(all="ignore"):
            if self.impl == "llvm":
                try:
                    res = as_tuple(CPU_KERNELS[node.op](self.ctx, *args))
                except KernelError as e:
                    self.impl, self.why = "numpy", str(e)
            if self.impl == "numpy":
                if node.op not in KERNELS:
                    raise KernelError(f"{node.op} node {node.name!r}: no kernel for {node.op}")
                res = as_tuple(KERNELS[node.op](self.ctx, *args))
        env.update({o: np.asarray(r) for o, r in zip(node.outputs, res, strict=False) if o})
