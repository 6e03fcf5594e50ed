"""Depthwise convolution on the GEMM unit: block-diagonal weights.

A depthwise conv over C channels (ONNX `group == C`, one input and one output channel per
group, weights (C, 1, KH, KW)) is the grouped conv with G = ceil(C / BLOCK) groups of BLOCK
input and BLOCK output channels whose (BLOCK x BLOCK) weight blocks are diagonal:

    W'[c, c % BLOCK, y, x] = W[c, 0, y, x],   every other entry 0.

Output channel c of group c // BLOCK reads input channels (c // BLOCK) * BLOCK + j; only
j = c % BLOCK has a non-zero weight, so it sees exactly input channel c. C that is not a
multiple of BLOCK is padded with zero-weight channels (the blocked layout pads activations
to whole blocks anyway; zero in, zero weight, zero bias -> zero out).

The accelerator then runs the existing grouped conv (`compiler/vta/ops.py::conv2d_op`,
`groups=G`): KH*KW GEMM micro-ops per output vector and channel block, each a BLOCK x BLOCK
matrix of which BLOCK entries are useful, so at most 1/BLOCK of the GEMM unit's MACs count
(docs/compiler.md, "Depthwise convolution"). The mapping is portable (GEMM only, no ALU MUL).

`pack_layout` calls `block_diagonal_conv` for every accelerator depthwise conv: the packed
node carries `group = G` and the block-diagonal packed weights, so the graph's reference
executor (`vtac.conv2d` with `packed=1` works on the unpacked, channel-padded tensors)
computes exactly what the accelerator does.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, Node


def is_depthwise(node: Node, in_channels: int, out_channels: int) -> bool:
    """True for a conv with one input and one output channel per group (and > 1 group)."""
    group = int(node.attr("group", 1))
    return group > 1 and in_channels == group and out_channels == group


def is_depthwise_node(node: Node, graph: Graph) -> bool:
    if node.op not in ("Conv", "vtac.conv2d") or node.attr("packed", 0):
        return False
    w = graph.types[node.inputs[1]].shape
    return is_depthwise(node, graph.types[node.inputs[0]].shape[1], w[0])


def depthwise_geometry_problem(node: Node) -> str | None:
    """None if the accelerator kernel takes this depthwise conv's window (any kernel and
    strides, equal pads: `lower_group._conv_geometry`), else the reason. Checked at partition
    time so that such a layer stays a float conv on the CPU (its LLVM depthwise kernel) instead
    of an int8 one that the accelerator would refuse only at lowering."""
    pads = list(node.attr("pads", (0, 0, 0, 0)))
    if len(set(pads)) != 1:
        return f"depthwise conv with pads {pads}; the accelerator kernel takes equal pads"
    return None


def block_diagonal_weights(w: np.ndarray, block: int) -> np.ndarray:
    """(C, 1, KH, KW) depthwise weights -> (ceil(C/block)*block, block, KH, KW), diagonal blocks."""
    c, one, kh, kw = w.shape
    if one != 1:
        raise ValueError(f"depthwise weights must be (C, 1, KH, KW), got {w.shape}")
    cp = -(-c // block) * block
    out = np.zeros((cp, block, kh, kw), dtype=w.dtype)
    ch = np.arange(c)
    out[ch, ch % block] = w[:, 0]
    return out


def block_diagonal_conv(w: np.ndarray, block: int) -> tuple[np.ndarray, int]:
    """(grouped weights, groups) of the depthwise conv with weights `w` on `block`-wide blocks."""
    wd = block_diagonal_weights(w, block)
    return wd, wd.shape[0] // block
