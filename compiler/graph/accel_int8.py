"""What the accelerator runs of the int8 data-movement ops (`compiler/graph/quant/int8_ops.py`).

Mirrors `compiler/vta/maxpool.py` and `compiler/vta/elementwise.py` (the backend owns the
truth; a tile that does not fit the accumulator is found when the operator is built, and the
group then runs on the CPU with that reason):
- `vtac.maxpool` (int8, 4-D): any kernel, stride, and pads smaller than the kernel;
- `vtac.upsample` (int8, 4-D, factor 2): nearest ×2 (`compiler/vta/upsample.py`);
- `vtac.add` of two int8 tensors of one 4-D or 2-D shape that is not a conv's epilogue: its own
  element-wise group (`(a << sa) + (b << sb)`, then the `vtac.requantize` that follows it);
- `vtac.hardswish` (int8) and `vtac.mul` (two int8 tensors of one shape, or a [N, C, 1, 1]
  gate) with the `vtac.requantize` after them, only when the ALU has MUL (`HwConfig.ALU_MUL`):
  a HardSwish after a conv joins its epilogue (`compiler/vta/ops.py`), otherwise each is its
  own element-wise group (`compiler/vta/mul_ops.py`).
"""

from __future__ import annotations

from compiler.graph.ir import Graph, Node
from hw_sim.config import HwConfig

INT8_ACCEL_OPS = {"vtac.maxpool", "vtac.upsample", "vtac.add", "vtac.hardswish", "vtac.mul"}
MUL_OPS = {"vtac.hardswish", "vtac.mul"}
MUL_REASON = (
    "needs the ALU's MUL: compile with a config that has ALU_MUL (e.g. --config mul); "
    "VTA's Chisel/HLS do not implement it"
)


def int8_accel_support(
    node: Node, graph: Graph, cfg: HwConfig, accel_values: set[str]
) -> str | None:
    """None if `node` runs on the accelerator, else the reason (see the module docstring)."""
    types = [graph.types[v] for v in node.inputs]
    if node.op in ("vtac.maxpool", "vtac.upsample"):
        if types[0].dtype != "int8" or types[0].rank != 4:
            return f"{node.op} on {types[0].dtype} rank {types[0].rank} (int8 NCHW runs)"
        if node.op == "vtac.upsample" and int(node.attr("factor", 2)) != 2:
            return "nearest upsampling by a factor other than 2"
        return None
    if node.op in MUL_OPS:
        return _mul_op_support(node, types, cfg)
    if node.inputs[0] in accel_values:
        return None  # an epilogue of accelerator work
    if len(types) != 2 or any(t.dtype != "int8" for t in types):
        return "a standalone vtac.add runs on the accelerator for two int8 operands"
    if types[0].shape != types[1].shape or types[0].rank not in (2, 4):
        return "a standalone vtac.add needs two operands of one NCHW or NC shape"
    if max(int(node.attr("shift_a", 0)), int(node.attr("shift_b", 0))) > 15:
        return "an alignment shift above the ALU's 15"
    return None


def _mul_op_support(node: Node, types: list, cfg: HwConfig) -> str | None:
    if not cfg.ALU_MUL:
        return f"{node.op} {MUL_REASON}"
    if any(t.dtype != "int8" for t in types) or types[0].rank not in (2, 4):
        return f"{node.op} runs on the accelerator on int8 NCHW or NC operands"
    if node.op == "vtac.mul":
        a, b = (t.shape for t in types)
        if b != a and not (len(a) == 4 and b == (*a[:2], 1, 1)):
            return f"vtac.mul of shapes {a} and {b} (same shape or a [N, C, 1, 1] gate run)"
    return None


def alu_mul_nodes(graph: Graph) -> list[str]:
    """Accelerator nodes that use the ALU's MUL (their programs run on VTA's fsim, vtac's hw_sim
    and RTL, not on VTA's Chisel or HLS hardware): HardSwish and Mul, and the fixed-point
    requantization (`requant="mul"`: a requantize / add / max with a multiplier input)."""
    fixed_point = {"vtac.requantize": 3, "vtac.add": 4, "vtac.max": 4}  # inputs with multipliers
    return [
        n.name
        for n in graph.nodes
        if n.target == "accel"
        and (n.op in MUL_OPS or len(n.inputs) >= fixed_point.get(n.op, len(n.inputs) + 1))
    ]
