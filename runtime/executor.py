"""The graph executor: runs a `LinkedModel`'s launches over one shared DRAM image.

    ex = Executor(model, device="hw_sim")
    result = ex.run({"input": x}, cpu_repeats=3)
    result.outputs["logits"], result.launches[i].time_us

DRAM is one uint8 array: the constant image (weights, bias digits, micro-ops) followed by the
activation arena. Accelerator launches run their relocated program on it (device `hw_sim` or
`rtl`); CPU launches read and write the same bytes through NumPy views, with the CPU kernels
(`compiler/cpu`, LLVM) or the NumPy reference kernels where a node has none. Launches run in the
artifact's order, which is a valid topological order of the graph.

Times: an accelerator launch takes its simulated cycles at the config's clock plus the config's
per-launch host overhead (`LAUNCH_OVERHEAD_US`); a CPU launch takes its measured wall time on
this host (the median of `cpu_repeats` runs after an untimed warm-up run).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.driver.model import AccelLaunch, CpuLaunch, LinkedModel, NodeSpec
from compiler.driver.views import is_zero_copy
from hw_sim.stats import RunStats


class InputError(ValueError):
    """An input of the wrong name, shape or dtype; the message names it and both shapes."""


@dataclass
class LaunchRecord:
    """What one launch did in a run."""

    name: str
    device: str  # "accel" | "cpu"
    time_us: float  # its duration on the timeline
    cycles: int = 0
    overhead_us: float = 0.0
    stats: RunStats | None = None
    cpu_samples_us: list[float] = field(default_factory=list)
    sim_wall_s: float = 0.0  # host wall time spent simulating it
    schedule: object = None  # hw_sim's per-instruction schedule (for traces), if kept


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    launches: list[LaunchRecord]
    values: dict[str, np.ndarray] = field(default_factory=dict)  # with keep_values


def check_inputs(model: LinkedModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    unknown = [k for k in feeds if k not in model.inputs]
    missing = [k for k in model.inputs if k not in feeds]
    if unknown or missing:
        raise InputError(
            f"model {model.name!r} takes input(s) {', '.join(model.inputs)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    out = {}
    for name in model.inputs:
        t = model.tensors[name]
        a = np.asarray(feeds[name])
        if tuple(a.shape) != t.shape:
            raise InputError(f"input {name!r}: expected shape {t.shape}, got {tuple(a.shape)}")
        if a.dtype != np.dtype(t.dtype):
            raise InputError(f"input {name!r}: expected dtype {t.dtype}, got {a.dtype}")
        out[name] = a
    return out


def run_cpu_node(spec: NodeSpec, args: list, opset: int, reference: bool = False) -> tuple:
    """Run one node with the implementation chosen at compile time (`reference`: always the
    NumPy reference kernel, the graph's definition of the op)."""
    from compiler.cpu.graph_kernels import CPU_KERNELS
    from compiler.graph.ref import KERNELS, KernelCtx, as_tuple

    fn = CPU_KERNELS[spec.op] if spec.impl == "llvm" and not reference else KERNELS[spec.op]
    while args and args[-1] is None:
        args = args[:-1]
    ctx = KernelCtx(spec.attrs, opset, spec.name, spec.op, len(spec.outputs))
    with np.errstate(all="ignore"):
        return as_tuple(fn(ctx, *args))


class Executor:
    def __init__(self, model: LinkedModel, device: str = "hw_sim", keep_schedule: bool = False):
        from runtime.device import get_device

        self.model = model
        self.device = get_device(device, model.cfg) if model.accel_launches() else None
        self.keep_schedule = keep_schedule
        self.dram = np.zeros(model.dram_bytes, np.uint8)

    def view(self, name: str) -> np.ndarray:
        t = self.model.tensors[name]
        if t.offset is None:
            return self.model.host_constants[name]
        return self.dram[t.offset : t.offset + t.nbytes].view(t.dtype).reshape(t.shape)

    def run(
        self,
        feeds: Mapping[str, np.ndarray],
        cpu_repeats: int = 1,
        keep_values: bool = False,
        on_launch: Callable[[LaunchRecord], None] | None = None,
    ) -> RunResult:
        m = self.model
        self.dram[:] = 0
        self.dram[: m.const_image.size] = m.const_image
        for name, a in check_inputs(m, feeds).items():
            self.view(name)[...] = a
        # Arena bytes are reused: values are copied out right after the launch that wrote them.
        values = {v: self.view(v).copy() for v in m.inputs} if keep_values else {}
        records = []
        for la in m.launches:
            rec = self._accel(la) if isinstance(la, AccelLaunch) else self._cpu(la, cpu_repeats)
            records.append(rec)
            if keep_values:
                values.update({v: self.view(v).copy() for v in la.writes})
            if on_launch:
                on_launch(rec)
        outputs = {o: self.view(o).copy() for o in m.outputs}
        return RunResult(outputs, records, values)

    def _accel(self, la: AccelLaunch) -> LaunchRecord:
        cfg = self.model.cfg
        t0 = time.perf_counter()
        stats = self.device.execute(la.program, self.dram)
        wall = time.perf_counter() - t0
        sched = None
        if self.keep_schedule:
            last = getattr(self.device, "last_result", None)
            sched = (last.schedule, last.insns) if last is not None else None
        us = stats.total_cycles / cfg.CLOCK_MHZ
        overhead = cfg.LAUNCH_OVERHEAD_US
        return LaunchRecord(la.name, "accel", us + overhead, stats.total_cycles, overhead,
                            stats, sim_wall_s=wall, schedule=sched)  # fmt: skip

    def _cpu(self, la: CpuLaunch, repeats: int) -> LaunchRecord:
        if is_zero_copy(la, self.model.tensors):  # a concat/split the linker made a view
            return LaunchRecord(la.name, "cpu", 0.0, cpu_samples_us=[0.0])
        opset = self.model.opset
        samples = []
        # With repeats, one untimed first pass loads the compiled kernels (JIT from the disk
        # cache) so that the median is of steady-state runs.
        for k in range(max(1, repeats) + (repeats > 1)):
            t0 = time.perf_counter()
            for spec in la.nodes:
                args = [self.view(v) if v else None for v in spec.inputs]
                results = run_cpu_node(spec, args, opset)
                for name, value in zip(spec.outputs, results, strict=False):
                    if name:
                        dst = self.view(name)
                        value = np.asarray(value)
                        if value.shape != dst.shape or value.dtype != dst.dtype:
                            raise RuntimeError(
                                f"{spec.op} node {spec.name!r}: produced {value.shape} "
                                f"{value.dtype} for {name!r}, the artifact expects "
                                f"{dst.shape} {dst.dtype}"
                            )
                        dst[...] = value
            if k or repeats <= 1:
                samples.append((time.perf_counter() - t0) * 1e6)
        return LaunchRecord(la.name, "cpu", statistics.median(samples), cpu_samples_us=samples)


def _run_reference(model: LinkedModel, la, env: dict) -> dict[str, np.ndarray]:
    out = {}
    for spec in la.nodes if isinstance(la, CpuLaunch) else la.ref_nodes:
        args = [env[v] if v in env else out[v] if v else None for v in spec.inputs]
        results = run_cpu_node(spec, args, model.opset, reference=True)
        out.update({o: np.asarray(r) for o, r in zip(spec.outputs, results, strict=False) if o})
    return out


def launch_mismatches(model: LinkedModel, values: Mapping[str, np.ndarray]) -> list[str]:
    """Launch by launch: the reference kernels on the inputs the launch really got; the names of
    integer tensors it wrote that differ (empty: the integer path is bit-exact). Unlike the end-
    to-end comparison this is not disturbed by float CPU kernels that round differently from
    NumPy (a float conv whose output is quantized again)."""
    bad = []
    env = {**model.host_constants, **values}
    for la in model.launches:
        ref = _run_reference(model, la, env)
        bad += [v for v in la.writes if values[v].dtype.kind in "iu"
                and not np.array_equal(values[v], ref[v])]  # fmt: skip
    return bad


def reference_values(model: LinkedModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every value of the quantized graph by the NumPy reference kernels (the graph-level int8
    reference executor's semantics), for the bit-exactness check of a co-run."""

    env: dict[str, np.ndarray] = dict(model.host_constants)
    env.update(check_inputs(model, feeds))
    for la in model.launches:
        env.update(_run_reference(model, la, env))
    return env


def compare_integer_values(
    values: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]
) -> list[str]:
    """Names of integer tensors of a co-run that differ from the reference (empty: bit-exact)."""
    return [v for v, a in values.items()
            if a.dtype.kind in "iu" and v in ref and not np.array_equal(a, ref[v])]  # fmt: skip
