"""The whole-model compile driver: float graph -> `LinkedModel`.

optimize -> calibrate + quantize -> partition -> pack -> fuse     (compiler/graph/pipeline)
-> one launch per fused group:
     accelerator groups: lower_group -> compiler/vta build (the model's weights, biases
                         and shifts); a group the accelerator cannot run goes to the CPU
     CPU groups:         compiler/cpu kernels (LLVM), each compiled here once on zeros of
                         its shapes; the NumPy reference kernel where none covers a node
   (before that, chains of element-wise CPU nodes around each accelerator boundary become one
   fused CPU kernel each: `fuse_boundaries`)
-> optionally, consecutive accelerator launches merged into one stream (`fuse_accel`)
-> link: constants placed once, activations in one arena with liveness-based reuse,
   programs relocated into the linked DRAM
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from compiler.driver.fuse_boundaries import fuse_boundaries as fuse_boundary_chains
from compiler.driver.fuse_boundaries import is_boundary_node
from compiler.driver.link import ConstantPool, relocate
from compiler.driver.lower_group import GroupKernel, lower_group
from compiler.driver.model import AccelLaunch, CpuLaunch, FloatModel, LinkedModel, NodeSpec, Tensor
from compiler.driver.stream_merge import merge_programs
from compiler.driver.views import plan_arena_with_views, view_aliases
from compiler.graph.ir import Graph, Node
from compiler.graph.passes.fuse_ops import group_table
from compiler.graph.passes.partition import node_macs, unpadded_macs
from compiler.graph.pipeline import compile_for_accel
from hw_sim.config import HwConfig
from hw_sim.isa import AluInsn, AluOp
from hw_sim.program import dram_alignment

Progress = Callable[[str], None]


def _cpu_impl(node: Node, graph: Graph, constants: Mapping[str, np.ndarray]) -> NodeSpec:
    """The node with the implementation that runs it: a CPU kernel (compiled now, on zeros of
    its input shapes) or, where none covers it, the reference kernel (with the reason)."""
    from compiler.cpu.graph_kernels import CPU_KERNELS
    from compiler.graph.ref import KernelCtx, KernelError

    spec = NodeSpec(node.name, node.op, node.inputs, node.outputs, dict(node.attrs))
    fn = CPU_KERNELS.get(node.op)
    if fn is None:
        return NodeSpec(
            **{**spec.__dict__, "impl": "numpy", "why_numpy": f"no CPU kernel for {node.op}"}
        )
    args = [
        None if not v else constants[v] if v in constants
        else np.zeros(graph.types[v].shape, graph.types[v].dtype)
        for v in node.inputs
    ]  # fmt: skip
    while args and args[-1] is None:
        args.pop()
    ctx = KernelCtx(node.attrs, graph.opset, node.name, node.op, len(node.outputs))
    try:
        with np.errstate(all="ignore"):
            fn(ctx, *args)
    except KernelError as e:
        return NodeSpec(**{**spec.__dict__, "impl": "numpy", "why_numpy": str(e)})
    return spec


def _build_accel(nodes: list[Node], graph: Graph, cfg: HwConfig, bias_on: str, knobs_for):
    from compiler.vta.build import build

    try:
        kernel = lower_group(graph, nodes, cfg, bias_on)
    except ValueError as e:  # an out-of-range GEMM bias: the ALU adds it instead
        if bias_on != "gemm" or "bias" not in str(e):
            raise
        kernel = lower_group(graph, nodes, cfg, "alu")
    knobs = knobs_for(kernel.op) if knobs_for else None
    want = getattr(knobs, "bias_on", "")
    built = "gemm" if kernel.op.bias_gemm else "alu" if kernel.op.alu_bias else ""
    if want and built and want != built:  # a tuned schedule that adds the bias elsewhere
        try:
            kernel = lower_group(graph, nodes, cfg, want)
        except ValueError:  # e.g. a bias outside the GEMM unit's range: keep the heuristic
            knobs = None
    return kernel, build(kernel.op, cfg, knobs)


def _accel_launch(gid: int, nodes: list[Node], g: Graph, fg: Graph, kernel, compiled):
    reads = [v for b, v in kernel.values.items() if b != kernel.op.output.name]
    refs = [NodeSpec(n.name, n.op, n.inputs, n.outputs, dict(n.attrs), "accel") for n in nodes]
    return AccelLaunch(
        nodes[0].name, [gid], [n.name for n in nodes], [n.op for n in nodes], compiled.program,
        reads, [kernel.output], unpadded_macs(nodes, g, fg), sum(node_macs(n, g) for n in nodes),
        [compiled.knobs.to_dict()], refs,
    )  # fmt: skip


def _cpu_launch(gid: int, nodes: list[Node], g: Graph, fg: Graph, reason: str) -> CpuLaunch:
    specs = [_cpu_impl(n, g, g.constants) for n in nodes]
    produced = {o for n in nodes for o in n.outputs if o}
    reads = {v for n in nodes for v in n.inputs if v and v not in produced | g.constants.keys()}
    return CpuLaunch(
        nodes[0].name, [gid], specs, sorted(reads), sorted(produced), unpadded_macs(nodes, g, fg),
        all(is_boundary_node(n) for n in nodes), reason,
    )  # fmt: skip


def compile_model(
    graph: Graph,
    cfg: HwConfig,
    samples: Iterable[Mapping[str, np.ndarray]],
    *,
    fuse_accel: bool = False,
    fuse_boundaries: bool = True,
    bias_on: str = "gemm",
    keep_float_model: bool = True,
    knobs_for: Callable | None = None,
    progress: Callable[[int], Callable[[str], None]] | None = None,
    meta: dict | None = None,
    quant_options: Mapping | None = None,
) -> LinkedModel:
    """Compile a float graph for the accelerator + CPU and link it (see the module docstring).

    `knobs_for(op) -> Knobs | None` supplies tuned schedules (None: the heuristic);
    `fuse_boundaries`: one CPU kernel per accelerator boundary chain (see fuse_boundaries.py);
    `progress(n_groups)` returns a callback called once per compiled group with its name;
    `quant_options` pass through to `compile_for_accel` (calibration method, keep_float,
    `per_channel=False` for one weight exponent per tensor, ...).
    """
    t0 = time.perf_counter()
    result = compile_for_accel(graph, cfg, samples, **(quant_options or {}))
    g, fg = result.graph, result.float_graph
    if fuse_boundaries:
        g = fuse_boundary_chains(g)
    t_graph = time.perf_counter() - t0
    by_name = {n.name: n for n in g.nodes}
    table = group_table(g)
    tick = progress(len(table)) if progress else (lambda _name: None)
    launches: list = []
    kernels: dict[str, tuple[GroupKernel, object]] = {}
    fallbacks: list[dict] = []
    for gid, names in table:
        nodes = [by_name[n] for n in names]
        launch, reason = None, nodes[0].reason
        if nodes[0].target == "accel":
            try:
                kernel, compiled = _build_accel(nodes, g, cfg, bias_on, knobs_for)
            except ValueError as e:  # LoweringError, SRAM overflow, pass errors: CPU instead
                reason = f"accelerator kernel failed: {type(e).__name__}: {e}"
                fallbacks.append({"group": gid, "nodes": names, "reason": reason})
            else:
                kernels[nodes[0].name] = (kernel, compiled)
                launch = _accel_launch(gid, nodes, g, fg, kernel, compiled)
        if launch is None:
            launch = _cpu_launch(gid, nodes, g, fg, reason)
        launches.append(launch)
        tick(launch.name)
    model = _link(g, fg, cfg, launches, kernels, keep_float_model, fuse_accel)
    model.meta.update(meta or {})
    model.meta.update(
        {
            "compile_seconds": time.perf_counter() - t0,
            "graph_seconds": t_graph,
            "fuse_accel": fuse_accel,
            "fuse_boundaries": fuse_boundaries,
            "fallbacks": fallbacks,
            "quant": {
                "layers": [
                    {"anchor": q.anchor, "exp_in": q.exp_in, "exp_w": q.exp_w, "exp_out": q.exp_out}
                    for q in result.plan.layers
                ],
                "kept_float": dict(result.plan.kept_float),
            },
            "groups": len(table),
            "alu_mul_launches": [la.name for la in model.accel_launches()
                                 if uses_alu_mul(la.program)],
        }
    )  # fmt: skip
    return model


def uses_alu_mul(program) -> bool:
    """Whether a program has an ALU MUL (VTA's Chisel and HLS do not run it)."""
    return any(isinstance(i, AluInsn) and i.alu_op == AluOp.MUL for i in program.insns)


def _merge_accel_runs(launches: list, cfg: HwConfig) -> list:
    """Consecutive accelerator launches become one (one stream, no host round trip)."""
    out: list = []
    for la in launches:
        prev = out[-1] if out else None
        if isinstance(la, AccelLaunch) and isinstance(prev, AccelLaunch):
            out[-1] = AccelLaunch(
                prev.name, prev.groups + la.groups, prev.nodes + la.nodes, prev.ops + la.ops,
                merge_programs([prev.program, la.program], cfg),
                prev.reads + [v for v in la.reads if v not in prev.writes],
                prev.writes + la.writes, prev.macs + la.macs, prev.padded_macs + la.padded_macs,
                prev.knobs + la.knobs, prev.ref_nodes + la.ref_nodes,
            )  # fmt: skip
        else:
            out.append(la)
    return out


def _stream_index(launches: list, fuse_accel: bool) -> list[int]:
    """Launch i runs in stream step idx[i]; merged accelerator launches share a step (their
    values must not share arena bytes across the merged stream)."""
    idx, step = [], -1
    for i, la in enumerate(launches):
        merged = (
            fuse_accel
            and i
            and isinstance(la, AccelLaunch)
            and isinstance(launches[i - 1], AccelLaunch)
        )  # noqa: E501
        step += 0 if merged else 1
        idx.append(step)
    return idx


def _link(g, fg, cfg, launches: list, kernels: dict, keep_float: bool, fuse_accel: bool):
    align = dram_alignment(cfg)
    pool = ConstantPool.empty(cfg)
    # 1. constants of the accelerator programs: weights, bias digits, micro-op kernels.
    const_offsets: dict[str, dict[str, int]] = {}
    for name, (kernel, compiled) in kernels.items():
        prog = compiled.program
        offs = {}
        for bname in prog.buffers:
            if bname in kernel.values:
                continue
            arr = kernel.constants.get(bname)
            if arr is None:  # micro-op kernels live in the program's own image
                arr = prog.read_buffer(prog.dram, bname)
            offs[bname] = pool.place(arr)
        const_offsets[name] = offs
    arena_offset = -(-pool.size // align) * align
    # 2. the activation arena: every non-constant value a launch reads or writes.
    order = {v: -1 for v in g.inputs}
    last: dict[str, int] = {}
    for i, la in zip(_stream_index(launches, fuse_accel), launches, strict=True):
        for v in la.writes:
            order.setdefault(v, i)
        for v in la.reads:
            last[v] = i
    end = len(launches)
    for v in g.outputs:
        last[v] = end
    values = [v for v in order]
    lifetimes = {v: (order[v], max(last.get(v, order[v]), order[v])) for v in values}
    sizes = {v: g.types[v].size * np.dtype(g.types[v].dtype).itemsize for v in values}
    # channel concat/split views: their operands as slices of one buffer (views.py)
    aliases = view_aliases(launches, sizes, set(g.inputs) | set(g.outputs))
    plan = plan_arena_with_views(sizes, lifetimes, align, aliases)
    tensors = {
        v: Tensor(v, g.types[v].shape, g.types[v].dtype, arena_offset + plan.offsets[v])
        for v in values
    }
    # 3. relocate each accelerator program: its value buffers to the arena, the rest to the pool.
    host_constants: dict[str, np.ndarray] = {}
    for la in launches:
        for n in la.nodes if isinstance(la, CpuLaunch) else la.ref_nodes:
            for v in n.inputs:
                if v in g.constants:
                    host_constants[v] = g.constants[v]
                    tensors[v] = Tensor(v, g.types[v].shape, g.types[v].dtype, None, True)
    for la in launches:
        if isinstance(la, AccelLaunch):
            kernel, _ = kernels[la.name]
            new = dict(const_offsets[la.name])  # the pool starts at DRAM 0
            new.update({b: tensors[v].offset for b, v in kernel.values.items()})
            la.program = relocate(la.program, new, cfg)
    if fuse_accel:
        launches = _merge_accel_runs(launches, cfg)
    model = LinkedModel(
        g.name, cfg, g.opset, list(g.inputs), list(g.outputs), tensors, launches, pool.image(),
        arena_offset, plan.peak_bytes, plan.total_bytes, host_constants,
        _float_model(fg) if keep_float else None,
    )  # fmt: skip
    return model


def _float_model(fg: Graph) -> FloatModel:
    tensors = {v: Tensor(v, t.shape, t.dtype, None, v in fg.constants) for v, t in fg.types.items()}
    nodes = [NodeSpec(n.name, n.op, n.inputs, n.outputs, dict(n.attrs)) for n in fg.nodes]
    return FloatModel(
        list(fg.inputs), list(fg.outputs), nodes, tensors, dict(fg.constants), fg.opset
    )
