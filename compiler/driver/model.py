"""The compiled whole model: what `vtac compile` produces and an artifact stores.

Plain records with no dependency on the graph passes or the frontend, so that a runtime can load
and run them (`runtime/artifact.py`, `runtime/executor.py`):

- `Tensor`: a value of the model with its place: `offset` in the linked DRAM (activations and
  accelerator constants) or `host=True` (constants only CPU kernels read).
- `AccelLaunch`: one accelerator instruction stream (one or more fused groups), relocated into
  the linked DRAM, with the graph values it reads and writes.
- `CpuLaunch`: one fused CPU group, as graph nodes run by the CPU kernels (LLVM), or by the NumPy
  reference kernels where no CPU kernel covers a node (`impl` says which, per node).
- `LinkedModel`: launches in a valid order, the tensors, the constant DRAM image, the hardware
  config, the float model for the CPU-only baseline, and compile-time facts for the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw_sim.config import HwConfig
from hw_sim.program import Program


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int | None = None  # byte offset in the linked DRAM; None for host constants
    const: bool = False

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class NodeSpec:
    """A graph node as the CPU runs it (op semantics as in the graph IR, `docs/graph.md`)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict
    impl: str = "llvm"  # "llvm" (compiler/cpu) or "numpy" (the reference kernel)
    why_numpy: str = ""


@dataclass
class AccelLaunch:
    name: str
    groups: list[int]
    nodes: list[str]  # graph node names, in order
    ops: list[str]
    program: Program  # relocated: no DRAM image, addresses into the linked DRAM
    reads: list[str]  # graph values (activations) read
    writes: list[str]  # graph values written
    macs: int  # multiply-accumulates of the unpadded layers
    padded_macs: int  # as computed: channels (and batch) padded to whole blocks
    knobs: list[dict] = field(default_factory=list)
    ref_nodes: list[NodeSpec] = field(default_factory=list)  # the graph nodes, for the reference

    @property
    def device(self) -> str:
        return "accel"


@dataclass
class CpuLaunch:
    name: str
    groups: list[int]
    nodes: list[NodeSpec]
    reads: list[str]
    writes: list[str]
    macs: int = 0
    boundary: bool = False  # only quantize/pack/unpack/dequantize: the cost of crossing over
    reason: str = ""  # why this group is on the CPU (the partition's reason of its first node)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def ops(self) -> list[str]:
        return [n.op for n in self.nodes]


Launch = AccelLaunch | CpuLaunch


@dataclass
class FloatModel:
    """The optimized float graph, node by node, for `--device cpu` (no quantization)."""

    inputs: list[str]
    outputs: list[str]
    nodes: list[NodeSpec]
    tensors: dict[str, Tensor]  # every value's type (constants included)
    constants: dict[str, np.ndarray]
    opset: int


@dataclass
class LinkedModel:
    name: str
    cfg: HwConfig
    opset: int
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, Tensor]
    launches: list[Launch]
    const_image: np.ndarray  # uint8: DRAM [0, const_bytes)
    arena_offset: int
    arena_bytes: int  # peak, with reuse
    arena_total_bytes: int  # the sum of all activations without reuse
    host_constants: dict[str, np.ndarray]  # CPU kernels' constants, and the reference's
    float_model: FloatModel | None = None
    meta: dict = field(default_factory=dict)  # compile facts: time, calibration, fallbacks...

    @property
    def dram_bytes(self) -> int:
        return self.arena_offset + self.arena_bytes

    def accel_launches(self) -> list[AccelLaunch]:
        return [la for la in self.launches if isinstance(la, AccelLaunch)]

    def cpu_launches(self) -> list[CpuLaunch]:
        return [la for la in self.launches if isinstance(la, CpuLaunch)]
