"""`--device cpu`: the float model (no quantization) entirely on the host CPU, node by node
with the LLVM CPU kernels (`compiler/cpu`), NumPy reference kernels only where no CPU kernel
covers a node (reported). The CPU-only baseline a user compares the co-run against."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.driver.model import FloatModel, NodeSpec
from runtime.executor import InputError


@dataclass
class FloatRun:
    outputs: dict[str, np.ndarray]
    node_us: dict[str, float]  # median wall time per node
    total_us: float  # median of whole-model runs
    numpy_nodes: dict[str, str] = field(default_factory=dict)  # node -> why not LLVM


class FloatExecutor:
    def __init__(self, fm: FloatModel):
        self.fm = fm
        for a in fm.constants.values():  # read-only: the CPU kernels then pack weights once
            a.setflags(write=False)
        self.impl: dict[str, str] = {}  # node -> "llvm" | "numpy", settled on the first run
        self.why: dict[str, str] = {}

    def _node(self, spec: NodeSpec, env: dict) -> None:
        from compiler.cpu.graph_kernels import CPU_KERNELS
        from compiler.graph.ref import KERNELS, KernelCtx, KernelError, as_tuple

        args = [env[v] if v else None for v in spec.inputs]
        while args and args[-1] is None:
            args.pop()
        ctx = KernelCtx(spec.attrs, self.fm.opset, spec.name, spec.op, len(spec.outputs))
        impl = self.impl.get(spec.name, "llvm" if spec.op in CPU_KERNELS else "numpy")
        with np.errstate(all="ignore"):
            if impl == "llvm":
                try:
                    res = as_tuple(CPU_KERNELS[spec.op](ctx, *args))
                except KernelError as e:
                    impl, self.why[spec.name] = "numpy", str(e)
            if impl == "numpy":
                self.why.setdefault(spec.name, f"no CPU kernel for {spec.op}")
                res = as_tuple(KERNELS[spec.op](ctx, *args))
        self.impl[spec.name] = impl
        env.update({o: np.asarray(r) for o, r in zip(spec.outputs, res, strict=False) if o})

    def run(self, feeds: Mapping[str, np.ndarray], repeats: int = 1) -> FloatRun:
        fm = self.fm
        for name in fm.inputs:
            t = fm.tensors[name]
            if name not in feeds:
                raise InputError(f"no value for input {name!r}")
            if tuple(np.shape(feeds[name])) != t.shape:
                raise InputError(
                    f"input {name!r}: expected shape {t.shape}, got {np.shape(feeds[name])}"
                )
        samples: dict[str, list[float]] = {n.name: [] for n in fm.nodes}
        totals = []
        env: dict = {}
        for k in range(max(1, repeats) + (repeats > 1)):  # + an untimed warm-up run
            env = dict(fm.constants)
            env.update({k: np.asarray(feeds[k], fm.tensors[k].dtype) for k in fm.inputs})
            t_start = time.perf_counter()
            for spec in fm.nodes:
                t0 = time.perf_counter()
                self._node(spec, env)
                if k or repeats <= 1:
                    samples[spec.name].append((time.perf_counter() - t0) * 1e6)
            if k or repeats <= 1:
                totals.append((time.perf_counter() - t_start) * 1e6)
        numpy_nodes = {n: self.why[n] for n, i in self.impl.items() if i == "numpy"}
        node_us = {n: statistics.median(s) for n, s in samples.items()}
        return FloatRun(
            {o: env[o] for o in fm.outputs}, node_us, statistics.median(totals), numpy_nodes
        )
