"""avgpool_as_conv: average pooling becomes a depthwise convolution with constant weights 1/N,
so that quantization turns it into an int8 `vtac.conv2d` + `vtac.requantize` that the
accelerator runs as block-diagonal GEMMs (`compiler/graph/depthwise.py`).

The int8 semantics are then those of the existing `vtac.*` ops (`compiler/graph/ref/
vtac_ops.py`), so the graph's reference executor is the oracle:

    acc = sum over the window of x_q * w_q     (int32; padded positions are zeros)
    y_q = clip((acc + 2^(s-1)) >> s, -128, 127)

with w_q = rint(2^k / N) (k = -e_w, the weight exponent quantization picks: the largest k with
2^k / N <= 127) and s the requantize shift from the input, weight and output exponents. The
1/N factor is exact for N a power of two; otherwise w_q * N / 2^k - 1 is the relative error of
the mean before rounding: +0.49 % for N = 49 (7x7, w_q = 84, k = 12), +0.20 % for N = 9 (3x3,
114, 10), +0.10 % for N = 25 (82, 11), +0.49 % for N = 196 (14x14, 84, 14); then the usual
half-LSB rounding of the output.

Only what the accelerator path computes exactly is rewritten (others stay `AveragePool` on the
CPU): 2-D pools with a window that fits the weight SRAM (kh * kw rows), equal pads on all
sides within the load unit's pad range, dilation 1, and `count_include_pad = 1` whenever there
are pads (ONNX's default `count_include_pad = 0` divides border windows by fewer elements, which
constant weights cannot express); `ceil_mode` only where it gives the floor-mode shape. Windows
and strides may differ between rows and columns (the accelerator conv takes (kh, kw) and (sh,
sw)). GlobalAveragePool still needs a square input: PP-OCR-cls's 3x96 / 2x96 squeeze-excite
pools ran bit-exactly as 288- and 192-tap depthwise convs, but each tap's block-diagonal
BLOCK x BLOCK weights are DMA'd per channel block (0.36-1.1 ms per pool on the accelerator
against microseconds on the CPU: cls's accelerator time went from 8 to 15 ms) and a pool has
no MACs to gain. MAC counts of the rewritten pools are kh*kw per output element (the float
graph's conv MACs).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.accel_support import MAX_PAD
from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.ref import KernelCtx
from compiler.graph.ref.pool import pool_geometry
from hw_sim.config import HwConfig


def pool_window(
    node: Node, graph: Graph, cfg: HwConfig
) -> tuple[tuple[int, int], tuple[int, int], int] | str:
    """((kh, kw), (stride rows, columns), pad) of an average pool the accelerator path can run,
    else the reason."""
    x_t = graph.types[node.inputs[0]]
    if x_t.rank != 4:
        return "not a 2-D pool"
    h, w = x_t.shape[2:]
    if node.op == "GlobalAveragePool":
        if h != w:  # long thin windows: weight DMA dwarfs the CPU's mean (module docstring)
            return f"global pool over a non-square {h}x{w} input"
        kernel, strides, pad = (h, w), (1, 1), 0
    else:
        ctx = KernelCtx(node.attrs, graph.opset, node.name, node.op)
        ksz, strides, dil, pb, pe, out = pool_geometry(ctx, [h, w])
        pads = [*pb, *pe]
        if any(d != 1 for d in dil):
            return f"dilations {dil}"
        if len(set(pads)) != 1:
            return f"pads {pads} are not equal on all sides"
        kernel, strides, pad = (ksz[0], ksz[1]), (strides[0], strides[1]), pads[0]
        if pad and not int(node.attr("count_include_pad", 0)):
            return "count_include_pad=0 with padding divides border windows by fewer elements"
        if pad > MAX_PAD:
            return f"padding {pad} exceeds the load unit's {MAX_PAD} per side"
        floor = [
            (n + 2 * pad - k) // s + 1 for n, k, s in zip((h, w), kernel, strides, strict=True)
        ]
        if list(out) != floor:
            return "ceil_mode adds a partial window"
    if kernel[0] * kernel[1] > cfg.wgt_depth:
        rows = kernel[0] * kernel[1]
        return (
            f"a {kernel[0]}x{kernel[1]} window needs {rows} weight rows, SRAM has {cfg.wgt_depth}"
        )
    return kernel, strides, pad


def avgpool_as_conv(graph: Graph, cfg: HwConfig) -> Graph:
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    nodes = []
    for node in graph.nodes:
        geometry = (
            pool_window(node, graph, cfg)
            if node.op in ("AveragePool", "GlobalAveragePool")
            else "not a pool"
        )
        if isinstance(geometry, str):
            nodes.append(node)
            continue
        (kh, kw), strides, pad = geometry
        c = graph.types[node.inputs[0]].shape[1]
        wname = names(f"{node.name}_mean_weights")
        constants[wname] = np.full((c, 1, kh, kw), 1.0 / (kh * kw), dtype=np.float32)
        types[wname] = TensorType.of(constants[wname])
        attrs = dict(group=c, kernel_shape=(kh, kw), strides=strides, pads=(pad,) * 4)
        nodes.append(Node(node.name, "Conv", (node.inputs[0], wname), node.outputs, attrs))
    return graph.with_nodes(nodes, types=types, constants=constants)
