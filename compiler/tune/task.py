"""Tuning tasks: (operator workload, hardware config, target), and the key records are filed by.

A task is what one search optimizes: the accelerator kernel of one operator at one hardware
config (`target="vta"`, cost = `hw_sim` cycles), or a CPU kernel on this host (`target="cpu"`,
cost = median seconds). Its key is a canonical JSON string, so that records from different runs,
tuners and machines of the same task meet in one database:

    key = task_key_from_op(op, cfg)   # what the compile driver calls for a VtaOp
    knobs = records.best_knobs("tune.jsonl", key)

The key holds what changes the cycle count — the operator kind, its shape (`VtaOp.workload`),
the epilogue's stage kinds and the config name — and not what the schedule chooses (the bias
placement is a knob, `Knobs.bias_on`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

from compiler.vta.ops import VtaOp, conv2d_op, dense_op
from hw_sim.config import HwConfig, load_config

# ResNet-18 conv layers (reference/workloads.md): H = W, in channels, out channels, kernel, stride
LAYERS = {
    "C1": (224, 3, 64, 7, 2), "C2": (56, 64, 64, 3, 1), "C3": (56, 64, 64, 1, 1),
    "C4": (56, 64, 128, 3, 2), "C5": (56, 64, 128, 1, 2), "C6": (28, 128, 128, 3, 1),
    "C7": (28, 128, 256, 3, 2), "C8": (28, 128, 256, 1, 2), "C9": (14, 256, 256, 3, 1),
    "C10": (14, 256, 512, 3, 2), "C11": (14, 256, 512, 1, 2), "C12": (7, 512, 512, 3, 1),
}  # fmt: skip
VTA_LAYERS = ["C2", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12"]


def _stage_kinds(op: VtaOp) -> list[str]:
    """The epilogue's stages without the operator's name: ['shr', 'bias', 'clip.max', ...]."""
    return [
        e.name[len(op.name) + 1 :] if e.name.startswith(op.name + ".") else e.name
        for e in getattr(op, "epilogue", ())  # max pool, upsample: none
    ]


def task_key_from_op(op: VtaOp, cfg: HwConfig) -> str:
    """The records key of the accelerator task of `op` at `cfg` (canonical JSON); `op` may also
    be a `MaxPoolOp` or `Upsample2xOp` (kind `maxpool` / `upsample2x`, no epilogue)."""
    d = {
        "target": "vta",
        "config": cfg.name,
        "kind": op.kind,
        "workload": op.workload,
        "epilogue": _stage_kinds(op),
    }
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Task:
    """One tuning task. `workload` holds the arguments that rebuild the operator.

    vta conv2d: n, ci, h, w, co, k, stride, pad, groups (+ kw, stride_w when the columns'
    differ from the rows'; + `epilogue`: a step list, default
    VTA's benchmark epilogue); vta dense: n, k, m (+ bias); vta maxpool: n, c, h, w, kernel,
    strides, pads; vta upsample2x: n, c, h, w, factor; vta elementwise: shape, a, b (operand
    dtypes), shift_a, shift_b, epilogue; cpu conv2d: c, h, w, o, k, stride.
    """

    target: str  # "vta" | "cpu"
    kind: str  # "conv2d" | "dense" | "maxpool" | "upsample2x" | "elementwise" (tune/kinds.py)
    workload: dict = field(hash=False, compare=False)
    config: str = "default"  # hardware config name or JSON path (vta); host CPU name (cpu)
    name: str = ""

    @cached_property
    def hw(self) -> HwConfig:
        return load_config(self.config)

    def build_op(self, bias_on: str = "gemm") -> VtaOp:
        """The accelerator operator, with its bias added on the GEMM or the ALU unit."""
        w = dict(self.workload)
        if self.target != "vta":
            raise ValueError(f"task {self.name or self.key}: not an accelerator task")
        from compiler.tune.tile_space import TILE_KINDS

        if self.kind in TILE_KINDS:
            return TILE_KINDS[self.kind].make_op(self.hw, w, self.name or self.kind)
        if self.kind == "elementwise":
            from compiler.vta.elementwise import elementwise_op

            steps = [tuple(s) for s in w["epilogue"]]
            if "op" in w:  # HardSwish / Mul on the ALU's MUL (compiler/vta/mul_ops.py)
                from compiler.vta.mul_ops import rebuild

                return rebuild(self.hw, w, steps, self.name or w["op"])
            return elementwise_op(self.hw, tuple(w["shape"]), w["a"], w["b"], w["shift_a"],
                                  w["shift_b"], steps, self.name or "eltwise")  # fmt: skip
        steps = w.pop("epilogue", None)
        steps = [tuple(s) for s in steps] if steps is not None else None
        if self.kind == "dense":
            return dense_op(
                self.hw,
                w["n"],
                w["k"],
                w["m"],
                bias=w.get("bias", False),
                bias_on=bias_on,
                epilogue=steps,
            )
        return conv2d_op(
            self.hw,
            w["n"],
            w["ci"],
            w["h"],
            w["w"],
            w["co"],
            (w["k"], w.get("kw", w["k"])),
            (w["stride"], w.get("stride_w", w["stride"])),
            w["pad"],
            groups=w.get("groups", 1),
            bias_on=bias_on,
            epilogue=steps,
        )

    @cached_property
    def key(self) -> str:
        if self.target == "vta":
            return task_key_from_op(self.build_op(), self.hw)
        d = {
            "target": self.target,
            "config": self.config,
            "kind": self.kind,
            "workload": self.workload,
        }
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "kind": self.kind,
            "workload": self.workload,
            "config": self.config,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        return cls(
            d["target"], d["kind"], d["workload"], d.get("config", "default"), d.get("name", "")
        )


def layer_task(name: str, config: str = "default", target: str = "vta") -> Task:
    """ResNet-18 layer `name` (C1-C12) at batch 1 with VTA's benchmark epilogue."""
    if name not in LAYERS:
        raise ValueError(f"unknown layer {name!r}: one of {', '.join(LAYERS)}")
    h, ci, co, k, s = LAYERS[name]
    if target == "cpu":
        return Task("cpu", "conv2d", dict(c=ci, h=h, w=h, o=co, k=k, stride=s), config, name)
    wl = dict(n=1, ci=ci, h=h, w=h, co=co, k=k, stride=s, pad=(k - 1) // 2, groups=1)
    return Task("vta", "conv2d", wl, config, name)


def useful_gemm_uops(task: Task) -> int:
    """GEMM micro-ops the operator itself needs (utilization = these ÷ total cycles): the
    output rows times the reduction steps (the last reduce axis lives inside the intrinsic)."""
    g = task.build_op().gemm
    n = 1
    for e in g.shape[:-2]:
        n *= e
    for a in g.op.reduce_axis[:-1]:
        n *= a.extent
    return n
