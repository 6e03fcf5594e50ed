"""An accelerator fusion group of the graph -> a `VtaOp` and how its DRAM buffers bind to graph
values.

A group is an anchor (`vtac.conv2d` / `vtac.dense`, packed) followed by its epilogue:
optionally one `vtac.add` (an int8 residual, aligned by shifts) and one `vtac.requantize`
(rounding shift + clip). The epilogue becomes the step list of `compiler.vta.ops`:

    conv(x, w) + b                 ("bias",)                     GEMM or ALU bias
    (acc << sa) + (r << sb)        ("shr", -sa), ("residual", sb)
    max(acc << sa, r << sb)        ("shr", -sa), ("residual_max", sb)      (vtac.max)
    clip((acc + 2^(s-1)) >> s)     ("add_imm", 2^(s-1)), ("shr", s), ("clip", lo, hi)

(with a bias, the rounding constant 2^(s-1) is added to the bias instead of by its own ALU
micro-op when only additions lie between them: `fold_rounding_into_bias`; per-channel shift
vectors become one tensor SHR by a shift row, their rounding folded into the bias:
`compiler/driver/per_channel_epilogue.py`)

which is bit-exact with the graph's reference semantics (`compiler/graph/ref/vtac_ops.py`) for
int32 accumulators that do not overflow. A group the accelerator cannot run raises
`LoweringError` with the reason; the driver then runs it on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.driver.mul_epilogue import drop_idle_clips_after_hardswish, hardswish_step
from compiler.driver.per_channel_epilogue import (
    PerChannelError,
    align_steps,
    fixed_point_steps,
    fold_channel_steps,
    has_vectors,
    requantize_steps,
)
from compiler.graph.ir import Graph, Node
from compiler.te.ops.layout import gemm_bias_range
from compiler.vta.ops import VtaOp, conv2d_op, dense_op
from hw_sim.config import ALU_IMM_WIDTH, HwConfig

# groups lowered by lower_int8.py (data movement, lone element-wise ops, the MUL ops)
INT8_GROUP_ANCHORS = {"vtac.maxpool", "vtac.upsample", "vtac.add", "vtac.requantize",
                      "vtac.hardswish", "vtac.mul"}  # fmt: skip
MAX_IMM_SHIFT = 15  # the portable SHR immediate range (vta-isa.md §2.5)


class LoweringError(ValueError):
    """A fusion group has no accelerator kernel; the message says why."""


@dataclass
class GroupKernel:
    """What a compiled accelerator group needs besides its program.

    `values[buffer]` is the graph value a DRAM buffer holds (inputs and the output);
    `constants[buffer]` the packed array of a constant buffer (weights, bias digits).
    """

    op: VtaOp
    values: dict[str, str]
    constants: dict[str, np.ndarray]
    output: str


def _requantize_steps(node: Node) -> list[tuple]:
    shift, lo, hi = int(node.attr("shift")), int(node.attr("lo")), int(node.attr("hi"))
    steps: list[tuple] = []
    if shift > 0:
        # floor((a + 2^(s-1)) / 2^s) == floor((floor(a / 2^k) + 2^(s-1-k)) / 2^(s-k)) for any
        # k < s, so shifts beyond the immediate range are split off first.
        while shift > MAX_IMM_SHIFT:
            k = min(shift - MAX_IMM_SHIFT, MAX_IMM_SHIFT)
            steps.append(("shr", k))
            shift -= k
        steps += [("add_imm", 1 << (shift - 1)), ("shr", shift)]
    elif shift < 0:
        k = -shift
        if k > MAX_IMM_SHIFT:
            raise LoweringError(f"requantize {node.name!r}: left shift {k} exceeds {MAX_IMM_SHIFT}")
        # Clamp first so that the int32 left shift cannot wrap (the reference shifts in int64):
        # anything outside [lo >> k - 1, hi >> k + 1] is clipped to lo / hi either way.
        steps += [("clip", (lo >> k) - 1, (hi >> k) + 1), ("shr", -k)]
    steps.append(("clip", lo, hi))
    return steps


def _check_imms(steps: list[tuple], where: str) -> None:
    lim = 1 << (ALU_IMM_WIDTH - 1)
    for st in steps:
        if st[0] in ("add_imm", "clip", "max", "min"):
            for v in st[1:]:
                if not -lim <= v < lim:
                    raise LoweringError(
                        f"{where}: ALU immediate {v} does not fit {ALU_IMM_WIDTH} bits"
                    )
        if st[0] in ("shr", "residual", "residual_max") and abs(st[1]) > MAX_IMM_SHIFT:
            raise LoweringError(f"{where}: shift {st[1]} exceeds the ALU's {MAX_IMM_SHIFT}")


def _epilogue(graph: Graph, nodes: list[Node]) -> tuple[list[tuple], str | None, str]:
    """(step list, residual value or None, group output value) for the nodes after the anchor."""
    anchor = nodes[0]
    steps: list[tuple] = []
    if len(anchor.inputs) > 2 and anchor.inputs[2]:
        steps.append(("bias",))
    chain, residual = anchor.outputs[0], None
    for node in nodes[1:]:
        if node.op in ("vtac.add", "vtac.max"):
            if residual is not None:
                raise LoweringError(f"group of {anchor.name!r}: more than one residual add")
            a, b = node.inputs[:2]
            sa, sb = int(node.attr("shift_a", 0)), int(node.attr("shift_b", 0))
            if b == chain:  # the add is commutative; the chain value may come second
                a, b, sa, sb = b, a, sb, sa
            if a != chain:
                raise LoweringError(f"{node.name!r}: neither input is the group's accumulator")
            if graph.types[b].dtype != "int8":
                raise LoweringError(
                    f"{node.name!r}: residual {b!r} is {graph.types[b].dtype}; the accelerator "
                    "adds int8 residuals (loaded into the accumulator as 8-bit)"
                )
            vecs = [graph.constants[v] if v else None for v in node.inputs[2:4]]
            if any(v is not None for v in vecs) and a != node.inputs[0]:
                raise LoweringError(f"{node.name!r}: the align vector shifts the residual")
            if len(vecs) > 1 and vecs[1] is not None:  # fixed-point rescale (ALU MUL)
                pre = vecs[0] if vecs[0] is not None else np.zeros_like(vecs[1])
                shift_m = int(node.attr("shift_m", 0))
                steps += _per_channel(fixed_point_steps, node.name, pre, vecs[1], shift_m)
            elif vecs and vecs[0] is not None:  # per-channel align of the accumulator
                steps += _per_channel(align_steps, node.name, vecs[0])
            if sa:
                steps.append(("shr", -sa))
            steps.append(("residual" if node.op == "vtac.add" else "residual_max", sb))
            residual = b
        elif node.op == "vtac.hardswish":  # int8 in (a requantize before it), the ALU's MUL
            if node.inputs[0] != chain or graph.types[chain].dtype != "int8":
                raise LoweringError(f"{node.name!r}: HardSwish of the group's int8 value only")
            steps.append(hardswish_step(node))
        elif node.op == "vtac.requantize":
            if node.inputs[0] != chain:
                raise LoweringError(f"{node.name!r}: does not read the group's accumulator")
            if len(node.inputs) > 2 and node.inputs[2]:  # fixed-point multipliers (ALU MUL)
                shift, lo, hi = (int(node.attr(k)) for k in ("shift", "lo", "hi"))
                mult = graph.constants[node.inputs[2]]
                pre = graph.constants[node.inputs[1]] if node.inputs[1] else np.zeros_like(mult)
                steps += _per_channel(fixed_point_steps, node.name, pre, mult, shift)
                steps.append(("clip", lo, hi))
            elif len(node.inputs) > 1 and node.inputs[1]:
                shift, lo, hi = (int(node.attr(k)) for k in ("shift", "lo", "hi"))
                vec = graph.constants[node.inputs[1]]
                steps += _per_channel(requantize_steps, node.name, shift, vec, lo, hi)
            else:
                steps += _requantize_steps(node)
        else:
            raise LoweringError(f"{node.name!r}: {node.op} has no accelerator epilogue")
        chain = node.outputs[0]
    if graph.types[chain].dtype != "int8":
        raise LoweringError(
            f"group of {anchor.name!r} ends in {graph.types[chain].dtype}; the accelerator "
            "stores int8 only (a requantize must end the group)"
        )
    steps = drop_idle_clips_after_hardswish(steps)
    _check_imms(steps, f"group of {anchor.name!r}")
    return steps, residual, chain


def _per_channel(fn, *args) -> list[tuple]:
    try:
        return fn(*args)
    except PerChannelError as e:
        raise LoweringError(str(e)) from None


def fold_rounding_into_bias(steps: list[tuple]) -> tuple[list[tuple], int]:
    """(steps, rounding) with a requantize's `add_imm 2^(s-1)` moved into the bias when only
    additions lie between them: (acc + b) + r + c == (acc + b + c) + r, so the rounding constant
    rides on the bias for free (one ALU micro-op less per output row). `rounding` is what to add
    to every bias entry (0: nothing folded)."""
    if ("bias",) not in steps:
        return steps, 0
    i = steps.index(("bias",))
    for j in range(i + 1, len(steps)):
        kind = steps[j][0]
        if kind == "add_imm":
            return steps[:j] + steps[j + 1 :], steps[j][1]
        if kind != "residual":  # a shift or clip first: the constant cannot move past it
            return steps, 0
    return steps, 0


def _conv_geometry(node: Node, kh: int, kw: int) -> tuple[tuple[int, int], tuple[int, int], int]:
    """((kh, kw), (stride rows, stride columns), pad) of a convolution with equal pads on all
    sides (the load unit pads a tile symmetrically), else LoweringError."""
    sh, sw = (int(v) for v in node.attr("strides", (1, 1)))
    pads = list(node.attr("pads", (0, 0, 0, 0)))
    if len(set(pads)) != 1:
        raise LoweringError(
            f"conv {node.name!r}: pads {pads}; the accelerator kernels take equal pads on all sides"
        )
    return (kh, kw), (sh, sw), pads[0]


def lower_group(
    graph: Graph, nodes: list[Node], cfg: HwConfig, bias_on: str = "gemm"
) -> GroupKernel:
    """The `VtaOp` of an accelerator group (packed graph, see `pack_layout`)."""
    anchor = nodes[0]
    if anchor.op in INT8_GROUP_ANCHORS:
        # int8 data movement and lone element-wise groups (lower_int8.py)
        from compiler.driver.lower_int8 import lower_int8_group

        return lower_int8_group(graph, nodes, cfg)
    if anchor.op not in ("vtac.conv2d", "vtac.dense") or not anchor.attr("packed", 0):
        raise LoweringError(f"group starts with {anchor.op} {anchor.name!r}, not a packed GEMM op")
    steps, residual, output = _epilogue(graph, nodes)
    w = graph.constants[anchor.inputs[1]]
    name = anchor.name
    channel = None
    if has_vectors(steps):  # per-channel requantization: compiler/driver/per_channel_epilogue
        channels = w.shape[0] * (w.shape[4] if anchor.op == "vtac.conv2d" else w.shape[2])
        has_bias = len(anchor.inputs) > 2 and anchor.inputs[2]
        own = graph.constants[anchor.inputs[2]] if has_bias else None
        limit = gemm_bias_range(cfg.block_in) if bias_on == "gemm" else (-(2**31), 2**31 - 1)
        channel = _per_channel(
            fold_channel_steps, steps, channels, f"group of {name!r}", own, limit
        )
        steps, rounding = channel.steps, channel.bias_add
    else:
        steps, rounding = fold_rounding_into_bias(steps)
    x_shape = graph.types[anchor.inputs[0]].shape
    if anchor.op == "vtac.conv2d":
        nb, cib, h, wd, bt, bi = x_shape
        groups = int(anchor.attr("group", 1))
        co = w.shape[0] * w.shape[4]
        k, stride, pad = _conv_geometry(anchor, w.shape[2], w.shape[3])
        op = conv2d_op(
            cfg, nb * bt, cib * bi, h, wd, co, k, stride, pad, groups=groups, bias_on=bias_on,
            name=name, epilogue=steps,
        )  # fmt: skip
        kernel = w.reshape(op.kernel.shape) if groups > 1 else w
    else:
        nb, kb, bt, bi = x_shape
        m = w.shape[0] * w.shape[2]
        op = dense_op(cfg, nb * bt, kb * bi, m, bias_on=bias_on, name=name, epilogue=steps)
        kernel = w
    if tuple(kernel.shape) != tuple(op.kernel.shape):
        raise LoweringError(f"{name!r}: weight shape {w.shape} does not match {op.kernel.shape}")
    values = {"data": anchor.inputs[0], op.output.name: output}
    constants = {"kernel": np.ascontiguousarray(kernel)}
    if ("bias",) in steps:
        has_bias = len(anchor.inputs) > 2 and anchor.inputs[2]
        bias = graph.constants[anchor.inputs[2]].astype(np.int64) if has_bias else 0
        bias = np.zeros(op.workload.get("co", op.workload.get("m")), np.int64) + bias + rounding
        if bias.min() < -(2**31) or bias.max() >= 2**31:
            raise LoweringError(f"{name!r}: bias + rounding constant overflows int32")
        constants.update(op.pack["bias"](bias.astype(np.int32)))
    if channel is not None and channel.shift_row is not None:
        constants.update(op.pack["shift"](channel.shift_row))
    if channel is not None and channel.mult_row is not None:
        constants.update(op.pack["mult"](channel.mult_row))
    if residual is not None:
        values["residual"] = residual
    return GroupKernel(op, values, constants, output)
