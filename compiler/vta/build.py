"""`build(op, cfg) -> CompiledKernel`: schedule, lower, run the accelerator passes, generate code.

    k = build(conv2d_op(cfg, 1, 64, 56, 56, 64, 3, 1, 1), cfg)
    y, stats = k.run(get_device("hw_sim", cfg), data=x, kernel=w, bias=b)

`CompiledKernel.program` runs on any device of the device API (`load`, `write`, `run`, `read`);
its DRAM buffers are named after the operator's parameters and hold the packed layouts that
`pack_inputs` produces from plain NCHW/OIHW/NK arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from compiler.schedule.vta_gemm import Knobs, schedule_vta
from compiler.schedule.vta_heuristic import default_knobs, pingpong
from compiler.tir.lower import lower
from compiler.tir.nodes import PrimFunc
from compiler.tir.printer import print_func
from compiler.tir.transform import Pass, Sequential, debug_level, debug_print
from compiler.vta.alu_gemm import inject_alu, inject_gemm
from compiler.vta.codegen import CodegenStats, generate
from compiler.vta.dma import inject_dma_copy
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.ops import VtaOp
from compiler.vta.pingpong import pingpong_accumulator
from compiler.vta.sink import sink_epilogue, sink_gemm_reset
from compiler.vta.sram import allocate_sram
from compiler.vta.uop import fold_uop_loops
from compiler.vta.vthread import inject_virtual_thread
from hw_sim.config import HwConfig
from hw_sim.program import Program


def vta_pipeline(cfg: HwConfig, pingpong: bool = False, uop_split: int = 0) -> Sequential:
    """The accelerator passes, in order, each with why it sits there. `pingpong` lets
    `pingpong_accumulator` run (`build` asks the schedule heuristic whether it pays);
    `uop_split` is the schedule knob that shifts the GEMM micro-op folding cut."""
    return Sequential(
        [
            Pass(
                "alias_inplace_alu",
                alias_inplace_alu,
                "ALU ops update in place: epilogue stages share their operand's rows; done "
                "first so later passes see one accumulator tile",
            ),
            Pass(
                "sink_gemm_reset",
                sink_gemm_reset,
                "a reset waits for the STORE of its rows: just before the tile's first GEMM "
                "step, so that virtual threads interleave [reset t0, gemm t0, reset t1, "
                "gemm t1]; before the threads are replicated",
            ),
            Pass(
                "sink_epilogue",
                sink_epilogue,
                "the epilogue runs in the reduction loop's last iteration, so that virtual "
                "threads interleave [gemm t0, epilogue t0, gemm t1, epilogue t1] and thread "
                "0's store starts before thread 1's last GEMM",
            ),
            Pass(
                "pingpong_accumulator",
                lambda f: pingpong_accumulator(f, cfg) if pingpong else f,
                "consecutive tiles alternate between two halves of the stored accumulator "
                "when it fits, so a tile's reset need not wait for the previous tile's store; "
                "before the threads double every buffer again",
            ),
            Pass(
                "inject_virtual_thread",
                inject_virtual_thread,
                "ping-pong copies of thread-local buffers and interleaved blocks; before SRAM "
                "allocation, which must size the doubled buffers",
            ),
            Pass(
                "allocate_sram",
                lambda f: allocate_sram(f, cfg),
                "row ranges for every SRAM buffer; the intrinsics need row numbers",
            ),
            Pass(
                "inject_dma_copy",
                inject_dma_copy,
                "dma_copy nests -> 2-D LOAD/STORE with padding, while the copy loops are intact",
            ),
            Pass("inject_alu", lambda f: inject_alu(f, cfg), "alu nests -> ALU micro-ops"),
            Pass(
                "inject_gemm",
                lambda f: inject_gemm(f, cfg),
                "tensorize regions -> GEMM micro-ops (reset and update)",
            ),
            Pass(
                "fold_uop_loops",
                lambda f: fold_uop_loops(f, cfg, uop_split),
                "last: folds the loops around the micro-ops into the two hardware loop levels",
            ),
        ],
        name="vta",
    )


@dataclass
class CompiledKernel:
    program: Program
    func: PrimFunc
    op: VtaOp
    knobs: Knobs
    compile_seconds: float
    pass_times: list[tuple[str, float]] = field(default_factory=list)
    codegen: CodegenStats | None = None

    @property
    def input_names(self) -> list[str]:
        """Plain inputs `run` / `pack_inputs` take (data, kernel, bias, residual...)."""
        return self.op.inputs

    @property
    def buffer_names(self) -> list[str]:
        """The program's input DRAM buffers (packed layouts)."""
        return [t.name for t in self.op.params]

    @property
    def output_name(self) -> str:
        return self.op.output.name

    def pack_inputs(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Plain arrays (NCHW / OIHW / NK, bias (O,)) → packed arrays by DRAM buffer name."""
        missing = [n for n in self.input_names if n not in arrays]
        extra = [n for n in arrays if n not in self.input_names]
        if missing or extra:
            raise ValueError(
                f"{self.op.name}: inputs are {', '.join(self.input_names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        out = {}
        for name in self.input_names:
            out.update(self.op.pack[name](np.asarray(arrays[name])))
        for t in self.op.params:
            a = out[t.name].astype(t.dtype)
            if a.shape != t.shape:
                raise ValueError(
                    f"{self.op.name}: input {t.name} packs to {a.shape}, expected {t.shape}"
                )
            out[t.name] = a
        return out

    def run(self, device, **arrays: np.ndarray):
        """Run on a device with plain inputs; returns (plain output, RunStats)."""
        device.load(self.program)
        for name, a in self.pack_inputs(**arrays).items():
            device.write(name, a)
        stats = device.run()
        return self.op.unpack(device.read(self.output_name)), stats


def build(
    op: VtaOp, cfg: HwConfig, knobs: Knobs | None = None, vthreads: bool = True
) -> CompiledKernel:
    """Compile `op` for the accelerator (default knobs: `default_knobs(op, cfg, vthreads)`).

    `pass_times` lists every step with its wall time: `schedule` (knob heuristic and schedule),
    `lower`, the passes of `vta_pipeline`, `codegen` and `insert_dep_tokens`; `VTAC_DEBUG=1`
    prints them as they finish.
    """
    if op.kind == "maxpool":  # a dedicated generator (compiler/vta/maxpool.py says why)
        from compiler.vta.maxpool import build_maxpool

        return build_maxpool(op, cfg, knobs)
    if op.kind == "upsample2x":  # likewise (compiler/vta/upsample.py)
        from compiler.vta.upsample import build_upsample2x

        return build_upsample2x(op, cfg, knobs)
    t0 = time.perf_counter()
    times: list[tuple[str, float]] = []

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        times.append((name, now - since))
        debug_print(1, f"[vta] {name}: {(now - since) * 1e3:.2f} ms")
        return now

    pp = False
    if op.kind == "elementwise":
        from compiler.vta.elementwise import elementwise_knobs, schedule_elementwise

        knobs = knobs or elementwise_knobs(op, cfg, vthreads)
        sch = schedule_elementwise(op, knobs)
    else:
        if knobs is None:
            knobs = default_knobs(op, cfg, vthreads)
        sch = schedule_vta(op, knobs)
        pp = pingpong(op, cfg, knobs)
    t = step("schedule", t0)
    func = lower(sch, op.name)
    step("lower", t)
    if debug_level() >= 2:
        debug_print(2, f"[lower] {op.name} knobs={knobs.to_dict()}\n{print_func(func)}")
    lowered = func
    split = getattr(knobs, "uop_split", 0)
    pipe = vta_pipeline(cfg, pingpong=pp, uop_split=split)
    func = pipe.run(lowered)  # verifies the IR it is given and the IR it returns
    times += pipe.timings
    meta = {"op": op.name, "knobs": knobs.to_dict()}
    prog, stats = generate(func, cfg, meta=meta)
    if pp and stats.uop_loads > stats.uop_kernels:
        # the two halves' micro-op kernels evict each other in the micro-op SRAM: reloading
        # them on every tile costs more than the store wait the halves save
        pipe = vta_pipeline(cfg, pingpong=False, uop_split=split)
        func = pipe.run(lowered)
        times += [(f"{n} (no pingpong)", dt) for n, dt in pipe.timings]
        prog, stats = generate(func, cfg, meta=meta)
    for name, dt in (("codegen", stats.stream_seconds), ("insert_dep_tokens", stats.deps_seconds)):
        times.append((name, dt))
        debug_print(1, f"[vta] {name}: {dt * 1e3:.2f} ms")
    if debug_level() >= 3:
        from hw_sim.disasm import listing

        debug_print(3, listing(prog.insns))
    return CompiledKernel(prog, func, op, knobs, time.perf_counter() - t0, times, stats)
