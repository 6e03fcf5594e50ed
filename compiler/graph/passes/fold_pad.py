"""fold_pad_into_conv: a zero `Pad` of H and W before a `Conv` becomes the conv's own padding.

conv(pad0(x, p), W) == conv(x, W) with pads + p: the conv's padding is zeros too. Applies when
the Pad is mode "constant" with value 0 (or none), pads only the spatial axes, by constants,
feeds only convolutions, and each conv has explicit pads (auto_pad NOTSET). Folded only when
the result is symmetric (top = bottom, left = right): the accelerator's conv kernels take one
pad per axis pair, and then the padding costs nothing — the load unit pads while it copies (the
DMA's zero padding). An asymmetric result (TensorFlow-style "SAME" stride-2 pads such as
(0, 0, 1, 1)) keeps its Pad, which then runs int8 on the CPU (`int8_ops.py`).

Why before quantization: the padded tensor never exists, so it is neither calibrated nor stored.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, Node


def _spatial_pads(pad: Node, graph: Graph) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of a zero Pad of a 4-D tensor's H, W, else None."""
    mode = pad.attr("mode", "constant")
    if mode not in ("constant", b"constant") or graph.opset < 11 or len(pad.inputs) < 2:
        return None
    c = graph.constants
    if pad.inputs[1] not in c or graph.types[pad.inputs[0]].rank != 4:
        return None
    if len(pad.inputs) > 2 and pad.inputs[2]:
        v = c.get(pad.inputs[2])
        if v is None or np.any(v != 0):
            return None
    pads = [int(p) for p in np.atleast_1d(c[pad.inputs[1]])]
    if len(pad.inputs) > 3 and pad.inputs[3]:
        if pad.inputs[3] not in c:
            return None
        full = [0] * 8
        axes = [int(a) % 4 for a in np.atleast_1d(c[pad.inputs[3]])]
        for i, a in enumerate(axes):
            full[a], full[a + 4] = pads[i], pads[i + len(axes)]
        pads = full
    if len(pads) != 8 or min(pads) < 0 or any(pads[i] for i in (0, 1, 4, 5)):
        return None
    return pads[2], pads[3], pads[6], pads[7]


def fold_pad_into_conv(graph: Graph) -> Graph:
    consumers = graph.consumers()
    folded: dict[str, Node] = {}
    dropped: set[str] = set()
    for pad in graph.nodes:
        if pad.op != "Pad":
            continue
        p = _spatial_pads(pad, graph)
        users = consumers.get(pad.outputs[0], [])
        if p is None or not users or pad.outputs[0] in graph.outputs:
            continue
        if any(u.op != "Conv" or u.inputs[0] != pad.outputs[0] or u.name in folded for u in users):
            continue
        new = {}
        for u in users:
            if u.attr("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
                break
            t, l, b, r = (int(v) for v in u.attr("pads", (0, 0, 0, 0)))  # noqa: E741
            pads = (t + p[0], l + p[1], b + p[2], r + p[3])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                break
            new[u.name] = Node(u.name, u.op, (pad.inputs[0], *u.inputs[1:]), u.outputs,
                               {**u.attrs, "pads": pads}, u.group, u.target, u.reason)  # fmt: skip
        else:
            folded.update(new)
            dropped.add(pad.name)
    nodes = [folded.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return graph.with_nodes(nodes)
