"""What the accelerator can run: the capability table the partition pass consults.

THE ACCELERATOR BACKEND (`compiler/vta/`) OWNS THE TRUTH; this table mirrors what it
supports so that the graph level can partition without importing the backend. When the
backend gains or loses an operator, update this table (and its tests) with it.

The accelerator computes int8 x int8 -> int32 GEMMs and an int32 ALU (add, shift, min, max).
Supported, in the quantized graph (`vtac.*` ops; float ops never run on it):
- `vtac.conv2d`: any kernel size and stride (rows and columns may differ); equal padding up
  to 2**MEMOP_PAD_WIDTH - 1 per side (the load instruction's pad fields); dilation 1; group
  1, or grouped with in- and out-channels per group a multiple of BLOCK, or depthwise (one
  channel per group: run as block-diagonal grouped GEMMs, `compiler/graph/depthwise.py`);
  channels are padded to the block; one kernel window of weights must fit the weight SRAM.
  (Other grouped float convs are rewritten with fewer, whole-block groups before
  quantization: `passes/expand_groups.py`.)
- `vtac.dense`: 2-D int8 input and a constant 2-D weight.
- ALU epilogues fused after them: `vtac.add` (bias / int8 or int32 tensor), `vtac.max` (with
  an int8 tensor: LeakyRelu / PRelu as max(v, slope * v)), `vtac.requantize`
  (shift, min/max clip, relu).
- `vtac.maxpool` and a standalone int8 `vtac.add` (`accel_int8.py`); with the ALU's MUL
  (`HwConfig.ALU_MUL`), `vtac.hardswish` and `vtac.mul`.
Everything else runs on the CPU, with the reason stated.
"""

from __future__ import annotations

from compiler.graph.accel_int8 import INT8_ACCEL_OPS, MUL_REASON, int8_accel_support
from compiler.graph.depthwise import depthwise_geometry_problem, is_depthwise
from compiler.graph.ir import Graph, Node
from hw_sim.config import MEMOP_PAD_WIDTH, HwConfig

MAX_PAD = (1 << MEMOP_PAD_WIDTH) - 1
GEMM_OPS = {"vtac.conv2d", "vtac.dense"}
ALU_OPS = {"vtac.add", "vtac.max", "vtac.requantize"}

# Why common ops stay on the CPU (the default reason names the op).
CPU_REASONS = {
    "vtac.quantize": "float -> int8 conversion (the accelerator has no float unit)",
    "vtac.dequantize": "int8 -> float conversion (the accelerator has no float unit)",
    "vtac.pack": "layout transform at an accelerator region boundary (host side)",
    "vtac.unpack": "layout transform at an accelerator region boundary (host side)",
    "Conv": "float convolution (not quantized; the accelerator computes int8 only)",
    "Gemm": "float dense layer (not quantized; the accelerator computes int8 only)",
    "MatMul": "float matmul (not quantized; the accelerator computes int8 only)",
    "MaxPool": "float pooling (its input has no int8 form; vtac.maxpool runs on the accelerator)",
    "AveragePool": "not a depthwise conv: count_include_pad=0 with pads, unequal pads, "
    "dilation or a window beyond the weight SRAM",
    "GlobalAveragePool": "not a depthwise conv: a non-square input or a window beyond the "
    "weight SRAM",
    "Softmax": "softmax needs exp/div (float)",
    "Sigmoid": "sigmoid needs exp/div (float)",
    "HardSwish": f"x * hardsigmoid(x) is a product of two tensors: {MUL_REASON}",
    "Mul": f"a product of two tensors {MUL_REASON}",
    "HardSigmoid": "a slope needs a multiply; folded into the producing conv when there is one",
    "LeakyRelu": "runs as max(v, a*v) on the accelerator only with a slope in [0, 1]",
    "PRelu": "runs as max(v, a*v) on the accelerator only with per-channel slopes in [0, 1]",
}

# With the ALU's MUL, what keeps these float (`passes/int8_mul.py` rewrote the rest).
MUL_FLOAT_REASONS = {
    "HardSwish": "float HardSwish: its input has no int8 form, no quantize reads its result (it "
    "would add a rounding), or its input exponent is outside -10..0",
    "Mul": "float Mul: not two int8 operands of one shape (or an int8 tensor and an int8 "
    "[N, C, 1, 1] gate; a float squeeze-excite gate stays float) read by a quantize",
}


def conv_geometry_support(
    node: Node, in_channels: int, out_channels: int, cfg: HwConfig
) -> str | None:
    """None if a convolution's pads, dilations and groups fit the accelerator, else the reason
    (shared by float Conv nodes about to be quantized and by `vtac.conv2d`)."""
    pads = list(node.attr("pads", (0, 0, 0, 0)))
    if max(pads) > MAX_PAD:
        return f"padding {max(pads)} exceeds the load unit's {MAX_PAD} per side"
    if any(d != 1 for d in node.attr("dilations", (1, 1))):
        return "dilation != 1"
    group = int(node.attr("group", 1))
    if is_depthwise(node, in_channels, out_channels):
        # block-diagonal weights, one BLOCK of channels per group (depthwise.py)
        return depthwise_geometry_problem(node)
    if group != 1:
        cin, cout = in_channels // group, out_channels // group
        if cin % cfg.block or cout % cfg.block:
            return (
                f"grouped conv with {cin} in / {cout} out channels per group; the accelerator "
                f"needs a multiple of BLOCK={cfg.block} per group (expand_groups merges groups "
                f"only up to BLOCK times the MACs)"
            )
    return None


def gemm_support(node: Node, graph: Graph, cfg: HwConfig) -> str | None:
    """None if the accelerator runs this `vtac.conv2d`/`vtac.dense`, else the reason."""
    x_t = graph.types[node.inputs[0]]
    if node.inputs[1] not in graph.constants:
        return "weights are not constant"
    w = graph.constants[node.inputs[1]]
    if node.op == "vtac.dense":
        if x_t.rank != 2 or w.ndim != 2:
            return "dense needs a 2-D input and a 2-D weight"
        return None
    problem = conv_geometry_support(node, x_t.shape[1], w.shape[0], cfg)
    if problem:
        return problem
    kh, kw = w.shape[2], w.shape[3]
    if kh * kw > cfg.wgt_depth:
        return f"a {kh}x{kw} kernel window needs {kh * kw} weight rows, SRAM has {cfg.wgt_depth}"
    return None


def float_anchor_support(node: Node, graph: Graph, cfg: HwConfig) -> str | None:
    """For a float Conv/Gemm/MatMul about to be quantized: None if its int8 form could run on
    the accelerator, else the reason (quantizing it would only add error on the CPU)."""
    if node.op != "Conv":
        return None
    x_t = graph.types[node.inputs[0]]
    w_t = graph.types[node.inputs[1]]
    if x_t.rank != 4:
        return "not a 2-D convolution"
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return None  # explicit pads are computed at quantization; checked after
    return conv_geometry_support(node, x_t.shape[1], w_t.shape[0], cfg)


def support(node: Node, graph: Graph, cfg: HwConfig, accel_values: set[str]) -> str | None:
    """None if `node` runs on the accelerator, else the reason it stays on the CPU.

    `accel_values` are the values already produced on the accelerator: ALU ops run there only
    as an epilogue of accelerator work (their data input comes from it).
    """
    if node.op in GEMM_OPS:
        return gemm_support(node, graph, cfg)
    if node.op in INT8_ACCEL_OPS:  # max pooling, standalone element-wise add
        return int8_accel_support(node, graph, cfg, accel_values)
    if node.op in ALU_OPS:
        if node.inputs[0] not in accel_values:
            return f"{node.op} runs on the ALU only as an epilogue of accelerator work"
        return None
    if cfg.ALU_MUL and node.op in MUL_FLOAT_REASONS:
        return MUL_FLOAT_REASONS[node.op]
    return CPU_REASONS.get(node.op, f"no accelerator kernel for {node.op}")
