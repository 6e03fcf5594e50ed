"""The per-layer profile of a co-run: where the time goes, layer by layer and in total.

Rows are launches (a fused group, or several with merged accelerator streams), sorted by time:
device, ops, time, share of the sequential total, MACs (unpadded, as the model states them),
GOPS, accelerator utilization (the layer's own GEMM micro-ops, channels padded to blocks, per
cycle) and DRAM bytes (accelerator: bytes its DMA moved; CPU: bytes of the tensors it read and
wrote). The summary splits the time into accelerator, CPU compute, and boundary work (quantize,
pack, unpack, dequantize), gives the Amdahl bound (the speed-up if the CPU part cost nothing)
and counts the accelerator <-> CPU boundary crossings: values produced on one side and read on
the other, with their bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.driver.model import AccelLaunch, LinkedModel
from compiler.graph.boundary import Crossings, count_crossings
from runtime.executor import LaunchRecord
from runtime.timeline import Timeline


@dataclass(frozen=True)
class Row:
    name: str
    device: str
    ops: str
    time_us: float
    share: float
    macs: int
    gops: float
    utilization: float | None
    dram_bytes: int
    cycles: int
    impl: str  # accelerator, llvm, numpy, or llvm+numpy


@dataclass(frozen=True)
class Profile:
    rows: list[Row]  # in launch order
    accel_us: float
    cpu_us: float
    boundary_us: float
    overhead_us: float
    timeline: Timeline
    accel_cycles: int
    accel_utilization: float
    accel_macs: int
    cpu_macs: int
    numpy_nodes: list[str]
    crossings: Crossings | None = None

    @property
    def sequential_us(self) -> float:
        return self.timeline.sequential_us

    @property
    def amdahl_bound(self) -> float:
        """Speed-up over the sequential co-run if the CPU part (compute, boundaries) were free."""
        rest = self.sequential_us - self.cpu_us - self.boundary_us
        return self.sequential_us / rest if rest > 0 else float("inf")

    def to_json(self) -> dict:
        return {
            "latency_us": {
                "sequential": self.sequential_us,
                "overlapped": self.timeline.overlapped_us,
            },
            "accel_us": self.accel_us, "cpu_us": self.cpu_us, "boundary_us": self.boundary_us,
            "launch_overhead_us": self.overhead_us, "accel_cycles": self.accel_cycles,
            "accel_utilization": self.accel_utilization, "accel_macs": self.accel_macs,
            "cpu_macs": self.cpu_macs, "amdahl_bound": self.amdahl_bound,
            "numpy_nodes": self.numpy_nodes,
            **(self.crossings.to_json() if self.crossings else {}),
            "layers": [r.__dict__ for r in self.rows],
        }  # fmt: skip


def _ops_text(ops: list[str]) -> str:
    short = [o.removeprefix("vtac.") for o in ops]
    return "+".join(short) if len(short) <= 4 else "+".join(short[:3]) + f"+...({len(short)})"


def build_profile(model: LinkedModel, records: list[LaunchRecord], timeline: Timeline) -> Profile:
    cfg = model.cfg
    block_macs = cfg.batch * cfg.block_in * cfg.block_out
    total = timeline.sequential_us or 1.0
    rows = []
    accel_us = cpu_us = boundary_us = overhead = 0.0
    cycles = gemm = accel_macs = cpu_macs = 0
    numpy_nodes = []
    for la, rec in zip(model.launches, records, strict=True):
        if isinstance(la, AccelLaunch):
            util = la.padded_macs / block_macs / rec.cycles if rec.cycles else 0.0
            st = rec.stats
            dram = (sum(st.dram_bytes_read.values()) + st.dram_bytes_written) if st else 0
            accel_us += rec.time_us
            overhead += rec.overhead_us
            cycles += rec.cycles
            gemm += la.padded_macs // block_macs
            accel_macs += la.macs
            impl = "accelerator"
        else:
            util = None
            dram = sum(model.tensors[v].nbytes for v in la.reads + la.writes)
            if la.boundary:
                boundary_us += rec.time_us
            else:
                cpu_us += rec.time_us
            cpu_macs += la.macs
            impls = sorted({n.impl for n in la.nodes})
            numpy_nodes += [n.name for n in la.nodes if n.impl == "numpy"]
            impl = "+".join(impls)
        gops = 2 * la.macs / rec.time_us / 1e3 if rec.time_us else 0.0
        rows.append(Row(la.name, la.device, _ops_text(la.ops), rec.time_us, rec.time_us / total,
                        la.macs, gops, util, dram, rec.cycles, impl))  # fmt: skip
    util = gemm / cycles if cycles else 0.0
    return Profile(rows, accel_us, cpu_us, boundary_us, overhead, timeline, cycles, util,
                   accel_macs, cpu_macs, numpy_nodes, model_crossings(model))  # fmt: skip


def model_crossings(model: LinkedModel) -> Crossings:
    """Accelerator <-> CPU crossings between the linked model's launches (values a merged
    accelerator stream keeps to itself do not cross)."""
    steps = [(la.device, la.reads, la.writes) for la in model.launches]
    return count_crossings(steps, {v: t.nbytes for v, t in model.tensors.items()})


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_profile(p: Profile, top: int | None = None, cpu_note: str = "") -> str:
    rows = sorted(p.rows, key=lambda r: -r.time_us)
    shown = rows[:top] if top else rows
    head = f"{'layer':<28} {'device':<6} {'ops':<28} {'time us':>10} {'share':>6} {'MMACs':>8} {'GOPS':>7} {'util':>6} {'DRAM':>10}"  # noqa: E501
    lines = [head, "-" * len(head)]
    for r in shown:
        util = f"{100 * r.utilization:5.1f}%" if r.utilization is not None else "     -"
        dev = r.device if r.impl != "numpy" and "numpy" not in r.impl else f"{r.device}*"
        lines.append(
            f"{r.name[:28]:<28} {dev:<6} {r.ops[:28]:<28} {r.time_us:>10.1f} "
            f"{100 * r.share:5.1f}% {r.macs / 1e6:>8.1f} {r.gops:>7.1f} {util} "
            f"{_fmt_bytes(r.dram_bytes):>10}"
        )
    if top and len(rows) > top:
        rest = rows[top:]
        lines.append(f"... {len(rest)} more launches, {sum(r.time_us for r in rest):.1f} us")
    seq, ovl = p.sequential_us, p.timeline.overlapped_us
    lines += [
        "",
        f"latency: {seq / 1e3:.3f} ms sequential, {ovl / 1e3:.3f} ms with CPU and accelerator "
        f"overlapped ({p.timeline.overlap_gain:.2f}x)",
        f"  accelerator {p.accel_us / 1e3:8.3f} ms ({100 * p.accel_us / seq:4.1f}%): "
        f"{p.accel_cycles:,} cycles, {100 * p.accel_utilization:.1f}% GEMM utilization, "
        f"incl. {p.overhead_us / 1e3:.3f} ms launch overhead",
        f"  CPU         {p.cpu_us / 1e3:8.3f} ms ({100 * p.cpu_us / seq:4.1f}%){cpu_note}",
        f"  boundaries  {p.boundary_us / 1e3:8.3f} ms ({100 * p.boundary_us / seq:4.1f}%): "
        "quantize, pack, unpack, dequantize",
        f"MACs: {p.accel_macs:,} on the accelerator, {p.cpu_macs:,} on the CPU "
        f"({100 * p.accel_macs / max(1, p.accel_macs + p.cpu_macs):.1f}% accelerated, unpadded)",
        f"Amdahl bound: {p.amdahl_bound:.2f}x faster if the CPU part cost nothing",
    ]
    if p.crossings is not None:
        lines.append(p.crossings.render())
    if p.numpy_nodes:
        lines.append(f"* {len(p.numpy_nodes)} node(s) ran on NumPy reference kernels (no LLVM "
                     f"kernel covers them): {', '.join(p.numpy_nodes[:6])}")  # fmt: skip
    return "\n".join(lines)
