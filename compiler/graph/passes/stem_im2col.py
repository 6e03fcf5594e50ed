"""stem_im2col: an int8 convolution with few input channels becomes `vtac.im2col` on the CPU
plus a 1×1 convolution on the accelerator.

Why: the GEMM unit reduces over whole blocks of `block_in` (16) input channels. ResNet's stem
(3 channels, 7×7) pads 3 channels to 16 for each of its 49 taps: 49 GEMM micro-ops per output
row where ceil(147 / 16) = 10 would do — a quarter of ResNet-18's accelerator time. Laying the
windows out as channels (im2col) on the CPU, where the input is quantized and packed anyway,
turns it into a 1×1 convolution over 147 (→ 160) channels. The arithmetic is unchanged (the
same int8 products summed in int32), so results stay bit-exact with the original int8 conv.

A conv is rewritten when it is int8 (`vtac.conv2d`, group 1, dilation 1), its input comes
straight from a `vtac.quantize` (so the gather joins an existing CPU boundary, adding no
crossing), the rewrite at least halves the GEMM micro-ops, and the expanded input stays under
`max_bytes`. The conv keeps its name (profiles, MAC counts and quant reports line up).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from hw_sim.config import HwConfig

MIN_GAIN = 2.0  # GEMM micro-ops before / after, below which the extra CPU gather is not worth it
MAX_BYTES = 8 << 20  # the expanded int8 input (the stem of a 224×224 ResNet: 1.8 MiB)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def im2col_gain(c: int, kh: int, kw: int, block: int) -> float:
    """GEMM micro-ops per output row: direct conv ÷ its im2col form."""
    return _ceil_div(c, block) * kh * kw / _ceil_div(c * kh * kw, block)


def stem_im2col(graph: Graph, cfg: HwConfig, max_bytes: int = MAX_BYTES) -> Graph:
    producer = graph.producers()
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    nodes: list[Node] = []
    for node in graph.nodes:
        rewritten = _rewrite(node, graph, cfg, producer, names, constants, types, max_bytes)
        nodes.extend(rewritten or [node])
    return graph.with_nodes(nodes, types=types, constants=constants)


def _rewrite(node, graph, cfg, producer, names, constants, types, max_bytes):
    if node.op != "vtac.conv2d" or node.attr("packed", 0) or int(node.attr("group", 1)) != 1:
        return None
    if tuple(node.attr("dilations", (1, 1))) != (1, 1) or node.inputs[1] not in constants:
        return None
    x = node.inputs[0]
    src = producer.get(x)
    if src is None or src.op != "vtac.quantize" or graph.types[x].rank != 4:
        return None
    w = constants[node.inputs[1]]
    cout, c, kh, kw = w.shape
    if kh * kw == 1 or im2col_gain(c, kh, kw, cfg.block_in) < MIN_GAIN:
        return None
    n = graph.types[x].shape[0]
    oh, ow = graph.types[node.outputs[0]].shape[2:]  # the conv's output: one column per pixel
    strides, pads = tuple(node.attr("strides", (1, 1))), tuple(node.attr("pads", (0, 0, 0, 0)))
    if n * c * kh * kw * oh * ow * np.dtype(graph.types[x].dtype).itemsize > max_bytes:
        return None
    cols, wcol = names(f"{x}_im2col"), names(f"{node.inputs[1]}_im2col")
    types[cols] = TensorType((n, c * kh * kw, oh, ow), graph.types[x].dtype)
    constants[wcol] = w.reshape(cout, c * kh * kw, 1, 1)
    types[wcol] = TensorType.of(constants[wcol])
    gather = Node(
        names(f"{node.name}_im2col"), "vtac.im2col", (x,), (cols,),
        {"kernel_shape": (kh, kw), "strides": strides, "pads": pads},
    )  # fmt: skip
    conv = replace(
        node,
        inputs=(cols, wcol, *node.inputs[2:]),
        attrs={**node.attrs, "strides": (1, 1), "pads": (0, 0, 0, 0)},
    )
    return [gather, conv]
