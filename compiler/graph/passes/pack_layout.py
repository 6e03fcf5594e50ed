"""pack_layout: move accelerator regions to the accelerator's blocked layouts.

Activations are NCHW -> [N/BATCH, C/BLOCK, H, W, BATCH, BLOCK] (NC -> [N/BATCH, C/BLOCK, BATCH,
BLOCK] for dense), weights OIHW -> [O/BLOCK, I/BLOCK, KH, KW, BLOCK, BLOCK] (packed at compile
time, as constants), biases padded to whole output blocks; channels (and the batch) are
zero-padded to the block, so a 3-channel first layer becomes one full input block. Inside a
region, values stay packed; `vtac.pack` is inserted where a value enters the region and
`vtac.unpack` (restoring the original value name, dropping the padding) where a value leaves it
for a CPU consumer or a graph output. Zero padding stays zero through conv (zero weights and
bias), add, requantize, max pooling (max of zeros) and upsampling, so the padded channels never
leak.

Needs `partition` first (it packs only nodes with target "accel"). Block sizes come from the
`HwConfig`. A depthwise conv becomes a grouped conv with block-diagonal weights (its packed
node's `group` counts blocks of channels, `compiler/graph/depthwise.py`).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.depthwise import block_diagonal_conv, is_depthwise_node
from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.ref.vtac_ops import pack_weight_array
from hw_sim.config import HwConfig


def _ceil_to(v: int, b: int) -> int:
    return -(-v // b) * b


def packed_shape(shape: tuple[int, ...], bn: int, bc: int) -> tuple[int, ...]:
    n, c = shape[:2]
    return (_ceil_to(n, bn) // bn, _ceil_to(c, bc) // bc) + tuple(shape[2:]) + (bn, bc)


def pack_layout(graph: Graph, cfg: HwConfig) -> Graph:
    bn, bc = cfg.batch, cfg.block
    names = NameGen(graph)
    constants = dict(graph.constants)
    types = dict(graph.types)
    packed: dict[str, str] = {}  # original value -> packed value
    accel_outputs: set[str] = set()
    nodes: list[Node] = []

    def packed_input(value: str) -> str:
        if value not in packed:
            t = graph.types[value]
            out = names(f"{value}_packed")
            types[out] = TensorType(packed_shape(t.shape, bn, bc), t.dtype)
            nodes.append(
                Node(
                    names(f"{value}_pack"),
                    "vtac.pack",
                    (value,),
                    (out,),
                    {"bn": bn, "bc": bc},
                    target="cpu",
                    reason="layout transform at an accelerator region boundary",
                )
            )
            packed[value] = out
        return packed[value]

    for node in graph.nodes:
        if node.target != "accel":
            nodes.append(node)
            continue
        attrs = dict(node.attrs)
        ins = list(node.inputs)
        ins[0] = packed_input(ins[0])
        if node.op in ("vtac.conv2d", "vtac.dense"):
            w = constants[node.inputs[1]]
            if is_depthwise_node(node, graph):  # block-diagonal grouped conv (depthwise.py)
                w, attrs["group"] = block_diagonal_conv(w, bc)
            wp = names(f"{node.inputs[1]}_packed")
            constants[wp] = pack_weight_array(w, bc)
            types[wp] = TensorType.of(constants[wp])
            ins[1] = wp
            if len(ins) > 2 and ins[2]:
                b = constants[node.inputs[2]]
                bp = names(f"{node.inputs[2]}_padded")
                constants[bp] = np.pad(b, (0, _ceil_to(b.shape[0], bc) - b.shape[0]))
                types[bp] = TensorType.of(constants[bp])
                ins[2] = bp
            attrs["packed"] = 1
        elif node.op in ("vtac.add", "vtac.max", "vtac.mul"):
            ins[1] = packed_input(ins[1])
        elif node.op in ("vtac.maxpool", "vtac.upsample"):
            attrs["packed"] = 1  # pools H, W of the blocked tensor; padded channels stay 0
        # Per-channel vectors (requantize shifts / pre-shifts and multipliers, add align) are
        # padded like a bias; padded channels hold zeros, which any shift or product keeps 0.
        first = {"vtac.add": 2, "vtac.max": 2, "vtac.requantize": 1}.get(node.op)
        for vec in range(first, len(ins)) if first is not None else ():
            if not ins[vec]:
                continue
            v = constants[node.inputs[vec]]
            vp = names(f"{node.inputs[vec]}_padded")
            constants[vp] = np.pad(v, (0, _ceil_to(v.shape[0], bc) - v.shape[0]))
            types[vp] = TensorType.of(constants[vp])
            ins[vec] = vp
            attrs["packed"] = 1
        out = node.outputs[0]
        t = graph.types[out]
        out_p = names(f"{out}_packed")
        types[out_p] = TensorType(packed_shape(t.shape, bn, bc), t.dtype)
        packed[out] = out_p
        accel_outputs.add(out)
        nodes.append(
            Node(
                node.name,
                node.op,
                tuple(ins),
                (out_p,),
                attrs,
                node.group,
                node.target,
                node.reason,
            )
        )

    # Unpack where a packed value is needed in the original layout.
    needed = {i for n in nodes if n.target != "accel" and n.op != "vtac.pack" for i in n.inputs}
    needed |= set(graph.outputs)
    final: list[Node] = []
    for node in nodes:
        final.append(node)
        for out in node.outputs:
            original = next((k for k, v in packed.items() if v == out and k in accel_outputs), None)
            if original is not None and original in needed:
                t = graph.types[original]
                final.append(
                    Node(
                        names(f"{original}_unpack"),
                        "vtac.unpack",
                        (out,),
                        (original,),
                        {"n": t.shape[0], "c": t.shape[1]},
                        target="cpu",
                        reason="layout transform at an accelerator region boundary",
                    )
                )
    return graph.with_nodes(final, types=types, constants=constants)
