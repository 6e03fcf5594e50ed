"""prelu_as_conv: LeakyRelu / PRelu with slopes in [0, 1] -> max(v, slope * v), the product as a
1x1 depthwise conv (block-diagonal GEMM on the accelerator, `compiler/graph/depthwise.py`):

    PRelu(v, a) = Max(Conv(v, W = a per channel, group = C), v)       exact for 0 <= a <= 1

Why this shape: two slopes on one value need two copies of it, and compositions of the ALU's
shift / add / min / max on a single value keep one slope (every step scales it by 2^k or
clamps it), while the ALU updates its destination in place (`ACC[dst] = op(ACC[dst], src)`) and
vtac's backend has no accumulator-to-accumulator copy. So the slope product runs on the GEMM unit
(per-channel slopes for free: a diagonal weight) and the max on the ALU against the *input*
loaded a second time into the accumulator (the residual path, int8 ACC load, shifted left to
the product's exponent). Quantization turns the pair into

    acc = vtac.conv2d(v_q, a_q)           a_q = rint(a / 2^e_a), e_a from max a
    m   = vtac.max(acc, v_q) {shift_b = -e_a}                max(v*a_q, v << -e_a), exact
    y_q = vtac.requantize(m) {shift = e_y - e_v - e_a}

so the only error besides the usual output rounding is a_q * 2^e_a vs a: leaky 0.1 -> 102 *
2^-10 (-0.39 %), 0.01 -> 82 * 2^-13 (+0.10 %), 0.2 -> 102 * 2^-9 (-0.39 %); the positive side is
exact before the requantize. It is a launch of its own after the producing conv (one GEMM
micro-op per output vector, the input read twice), not fused into that conv's epilogue (which
would need the accumulator copy).

Rewritten only on 4-D inputs, with constant slopes per channel (or one for all) in [0, 1] and the
largest slope >= 2^-15 * 127 (the int8 input's left shift must fit the ALU's 15-bit shift range;
smaller slopes: `Relu` is as close); others stay on the CPU.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.quant.calibrate import pow2_exponent

MIN_SHIFT_EXP = -15  # the residual's left shift (= -e_a) must fit the ALU's shift immediate


def channel_slopes(node: Node, graph: Graph) -> np.ndarray | str:
    """Per-channel slopes of a LeakyRelu / PRelu the accelerator path runs, else the reason."""
    x_t = graph.types[node.inputs[0]]
    if x_t.rank != 4:
        return "not a 4-D (NCHW) input"
    c = x_t.shape[1]
    if node.op == "LeakyRelu":
        slopes = np.full(c, float(node.attr("alpha", 0.01)))
    else:
        if node.inputs[1] not in graph.constants:
            return "slope is not constant"
        s = np.asarray(graph.constants[node.inputs[1]], np.float64)
        padded = (1,) * (4 - s.ndim) + s.shape
        if s.ndim > 4 or padded[0] != 1 or padded[2:] != (1, 1) or padded[1] not in (1, c):
            return f"slope of shape {s.shape} is not one value per channel"
        slopes = np.broadcast_to(s.reshape(-1), (c,)).copy()
    if slopes.min() < 0 or slopes.max() > 1:
        return "a slope outside [0, 1] (max(v, a*v) needs 0 <= a <= 1)"
    if slopes.max() > 0 and pow2_exponent(float(slopes.max())) < MIN_SHIFT_EXP:
        return f"slopes below {127 * 2.0**MIN_SHIFT_EXP:.2g} need a left shift beyond 15"
    return slopes


def prelu_as_conv(graph: Graph) -> Graph:
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    nodes = []
    for node in graph.nodes:
        slopes = channel_slopes(node, graph) if node.op in ("LeakyRelu", "PRelu") else "not an op"
        if isinstance(slopes, str):
            nodes.append(node)
            continue
        x = node.inputs[0]
        c = graph.types[x].shape[1]
        wname = names(f"{node.name}_slopes")
        constants[wname] = slopes.astype(np.float32).reshape(c, 1, 1, 1)
        types[wname] = TensorType.of(constants[wname])
        prod = names(f"{node.name}_scaled")
        types[prod] = graph.types[node.outputs[0]]
        attrs = dict(group=c, kernel_shape=(1, 1), strides=(1, 1), pads=(0, 0, 0, 0))
        nodes.append(Node(names(f"{node.name}_slope"), "Conv", (x, wname), (prod,), attrs))
        nodes.append(Node(node.name, "Max", (prod, x), node.outputs))
    return graph.with_nodes(nodes, types=types, constants=constants)
