"""`--device cpu`: the float model (no quantization) entirely on the host CPU. The CPU-only
baseline a user compares the co-run against.

The model runs as a float plan (`compiler/cpu/float_plan.py`): activations stay in the blocked
NCHWc layout between the convolutions (bias, residual add and ReLU fused into them), the pools
and the dense layer, with weights packed and buffers allocated once; every other node runs on
NCHW arrays through the LLVM CPU kernels, or the NumPy reference kernels where none covers it
(reported). A model the planner rejects runs node by node the same way (`plan_error` says
why)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.cpu.float_plan import FloatPlan, PlanError, plan_float_model
from compiler.cpu.node_step import NodeStep
from compiler.driver.model import FloatModel
from runtime.executor import InputError


@dataclass
class FloatRun:
    outputs: dict[str, np.ndarray]
    # median wall time per node; a fused step's time goes to its first node (the conv), the
    # nodes fused into it get 0, and a layout conversion counts for the node it feeds.
    node_us: dict[str, float]
    total_us: float  # median of whole-model runs
    numpy_nodes: dict[str, str] = field(default_factory=dict)  # node -> why not LLVM
    step_us: dict[str, float] = field(default_factory=dict)  # "<index> <kind> <name>" -> median


class FloatExecutor:
    def __init__(self, fm: FloatModel, use_plan: bool = True):
        self.fm = fm
        for a in fm.constants.values():  # read-only: the CPU kernels then pack weights once
            a.setflags(write=False)
        self.plan: FloatPlan | None = None
        self.plan_error = "" if use_plan else "planning disabled"
        if use_plan:
            try:
                self.plan = plan_float_model(fm)
            except PlanError as e:
                self.plan_error = str(e)
        self.node_steps = [] if self.plan else [NodeStep(n, fm.opset) for n in fm.nodes]

    def _run_once(self, feeds: Mapping[str, np.ndarray]) -> tuple[dict, list[float]]:
        if self.plan is not None:
            return self.plan.run(feeds)
        fm = self.fm
        env = dict(fm.constants)
        env.update({k: np.asarray(feeds[k], fm.tensors[k].dtype) for k in fm.inputs})
        times = []
        for step in self.node_steps:
            t0 = time.perf_counter()
            step(env)
            times.append(time.perf_counter() - t0)
        return {o: env[o] for o in fm.outputs}, times

    def _labels(self) -> tuple[list[str], list[str]]:
        """Per step: its label for step_us, and the node its time is charged to."""
        if self.plan is None:
            names = [n.name for n in self.fm.nodes]
            return names, names
        steps = self.plan.steps
        charge, pending = [""] * len(steps), []
        for i, st in enumerate(steps):
            if st.nodes:
                for k in pending + [i]:
                    charge[k] = st.nodes[0]
                pending = []
            else:
                pending.append(i)
        last = next((s.nodes[0] for s in reversed(steps) if s.nodes), "")
        for k in pending:
            charge[k] = last
        return [f"{i} {s.kind} {s.name}" for i, s in enumerate(steps)], charge

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
        labels, charge = self._labels()
        samples: list[list[float]] = [[] for _ in labels]
        totals = []
        outputs: dict = {}
        for k in range(max(1, repeats) + (repeats > 1)):  # + an untimed warm-up run
            t_start = time.perf_counter()
            outputs, times = self._run_once(feeds)
            if k or repeats <= 1:
                totals.append((time.perf_counter() - t_start) * 1e6)
                for s, t in zip(samples, times, strict=True):
                    s.append(t * 1e6)
        step_us = {lb: statistics.median(s) for lb, s in zip(labels, samples, strict=True)}
        node_us = {n.name: 0.0 for n in fm.nodes}
        for node, us in zip(charge, step_us.values(), strict=True):
            node_us[node] = node_us.get(node, 0.0) + us
        if self.plan is not None:
            numpy_nodes = self.plan.numpy_nodes
        else:
            numpy_nodes = {s.node.name: s.why for s in self.node_steps if s.impl == "numpy"}
        return FloatRun(outputs, node_us, statistics.median(totals), numpy_nodes, step_us)
