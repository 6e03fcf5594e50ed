"""One quantized layer at a time: its int8 nodes in a graph from `quantize_int8`, run on the
*float* values of the float graph (so that the layer's own int8 error is measured apart from
the error its inputs already carry).

A layer is the anchor (`vtac.conv2d` / `vtac.dense`, named like the float anchor), its
residual `vtac.add`s, the `vtac.requantize` and the `vtac.dequantize` that gives its float
output back. Its int8 operands are quantized here from their float values at the exponent the
graph uses for them (a `vtac.quantize` of a float value, or another layer's requantized
output whose `vtac.dequantize` names the float value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from compiler.graph.executor import run_node
from compiler.graph.ir import Graph, GraphError, Node
from compiler.graph.quant.fixed_point import FixedPoint, plan_multipliers
from compiler.graph.quant.quantize import QuantizedLayer, _weights
from compiler.graph.ref.vtac_ops import channel_vector, quantize_array, requantize_array


@dataclass(frozen=True)
class LayerNodes:
    anchor: Node  # vtac.conv2d / vtac.dense
    adds: tuple[Node, ...]  # residual vtac.add, in order
    requantize: Node
    output: str  # the float value the layer's vtac.dequantize writes
    exp_out: int
    shifts: np.ndarray | None = None  # the requantize's per-channel shift vector, if any
    mult: np.ndarray | None = None  # its per-channel multipliers (requant="mul"), if any


def int8_sources(qgraph: Graph, layers=(), forms=None) -> dict[str, tuple[str, int]]:
    """int8 value -> (float value it stands for, exponent); `layers` (LayerNodes) name the
    requantized outputs whose float form nobody reads (so no dequantize is left); `forms`
    (`QuantPlan.int8_forms`) adds the int8 values of data movement (max pool, concat, ...)."""
    src: dict[str, tuple[str, int]] = dict(forms or {})
    src.update({ln.requantize.outputs[0]: (ln.output, ln.exp_out) for ln in layers})
    for n in qgraph.nodes:
        if n.op == "vtac.quantize":
            src[n.outputs[0]] = (n.inputs[0], _exp(n))
        elif n.op == "vtac.dequantize" and qgraph.types[n.inputs[0]].dtype == "int8":
            src[n.inputs[0]] = (n.outputs[0], _exp(n))
    return src


def _exp(node: Node) -> int | float:
    e = float(node.attr("exp"))
    return int(e) if e.is_integer() else e  # free scales (requant="mul") are not integers


def layer_nodes(qgraph: Graph, layer: QuantizedLayer) -> LayerNodes:
    """The int8 nodes of `layer` in `qgraph` (the graph `quantize_int8` returned)."""
    by_name = {n.name: n for n in qgraph.nodes}
    consumers = qgraph.consumers()
    anchor = by_name.get(layer.anchor)
    if anchor is None or anchor.op not in ("vtac.conv2d", "vtac.dense"):
        raise GraphError(f"layer {layer.anchor!r}: no int8 anchor of that name in the graph")
    adds, cur = [], anchor.outputs[0]
    while True:
        nxt = [c for c in consumers.get(cur, []) if c.op in ("vtac.add", "vtac.requantize")]
        if len(nxt) != 1:
            raise GraphError(f"layer {layer.anchor!r}: cannot follow its int8 chain at {cur!r}")
        if nxt[0].op == "vtac.requantize":
            requant = nxt[0]
            break
        adds.append(nxt[0])
        cur = nxt[0].outputs[0]
    deq = [c for c in consumers.get(requant.outputs[0], []) if c.op == "vtac.dequantize"]
    output = deq[0].outputs[0] if deq else layer.output
    vec = requant.inputs[1] if len(requant.inputs) > 1 and requant.inputs[1] else None
    shifts = qgraph.constants[vec] if vec else None
    mv = requant.inputs[2] if len(requant.inputs) > 2 and requant.inputs[2] else None
    mult = qgraph.constants[mv] if mv else None
    return LayerNodes(anchor, tuple(adds), requant, output, layer.exp_out, shifts, mult)


def layer_accumulator(
    qgraph: Graph, nodes: LayerNodes, env: Mapping[str, np.ndarray], sources
) -> np.ndarray:
    """The layer's int32 value right before its requantize, computed from the float `env`."""

    def operand(v: str) -> np.ndarray:
        if v in qgraph.constants:
            return qgraph.constants[v]
        if v not in sources:
            raise GraphError(f"value {v!r}: not an int8 form of a float value")
        name, e = sources[v]
        return quantize_array(env[name], e)

    acc = run_node(nodes.anchor, [operand(v) for v in nodes.anchor.inputs], qgraph.opset)[0]
    for add in nodes.adds:
        chain_in = next(i for i, v in enumerate(add.inputs) if v not in sources)
        args = [acc if i == chain_in else operand(v) for i, v in enumerate(add.inputs)]
        acc = run_node(add, args, qgraph.opset)[0]
    return acc


def requantized(nodes: LayerNodes, acc: np.ndarray, exp_out: int | None = None) -> np.ndarray:
    """The float output of the layer from its accumulator at output exponent `exp_out` (the
    graph's by default; another one moves the shift and the clip bounds with it)."""
    rq = nodes.requantize
    shift, lo, hi = int(rq.attr("shift")), int(rq.attr("lo")), int(rq.attr("hi"))
    if exp_out is not None and exp_out != nodes.exp_out:
        d = exp_out - nodes.exp_out
        shift += d
        # Relu (lo = 0) and full-range bounds stay; Clip bounds are re-derived from the value.
        lo = lo if lo in (0, -128) else int(np.ceil(lo * 2.0**-d))
        hi = hi if hi == 127 else int(np.floor(hi * 2.0**-d))
        lo, hi = max(lo, -128), min(hi, 127)
    else:
        exp_out = nodes.exp_out
    if nodes.mult is not None:  # fixed-point multipliers: re-planned for another exponent
        pre = np.zeros_like(nodes.mult) if nodes.shifts is None else nodes.shifts
        fp = FixedPoint(np.asarray(pre, np.int64), np.asarray(nodes.mult, np.int64),
                        int(rq.attr("shift")))  # fmt: skip
        if exp_out != nodes.exp_out:
            m = fp.mult / 2.0 ** (fp.pre + fp.shift) * 2.0 ** (nodes.exp_out - exp_out)
            fp = plan_multipliers(np.maximum(m, 1e-30), 128, nodes.requantize.name)
        y = fp.apply(acc, channel_vector(fp.pre, acc, False, "pre-shifts").shape)
        return np.clip(y, lo, hi).astype(np.float64) * 2.0**exp_out
    if nodes.shifts is not None:  # per-channel weight exponents (channel axis 1, unpacked)
        shift = shift + channel_vector(nodes.shifts, acc, False, "per-channel shifts")
    q = requantize_array(acc, shift, lo, hi)
    return q.astype(np.float64) * 2.0**exp_out


def error_stats(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(sum of squared errors, sum of squares of the reference)."""
    d = got.astype(np.float64) - want.astype(np.float64)
    return float(np.sum(d * d)), float(np.sum(want.astype(np.float64) ** 2))


def sqnr_db(err: float, ref: float) -> float:
    if err <= 0:
        return float("inf")
    if ref <= 0:
        return float("-inf")
    return 10.0 * float(np.log10(ref / err))


def _exp_column(exp: object, ndim: int) -> np.ndarray:
    """A per-tensor or per-output-channel exponent shaped to broadcast over weights."""
    e = np.asarray(exp, np.float64)
    return e.reshape((-1,) + (1,) * (ndim - 1)) if e.ndim else e


@dataclass(frozen=True)
class WeightDelta:
    """What weight rounding changed in one layer: W_q * 2**e_w - W (vtac layout)."""

    anchor: Node  # the float anchor
    delta: np.ndarray
    attrs: dict  # conv attributes in vtac form (strides, pads, dilations, group)


def weight_delta(graph: Graph, qgraph: Graph, layer: QuantizedLayer) -> WeightDelta:
    anchor = next(n for n in graph.nodes if n.name == layer.anchor)
    qanchor = next(n for n in qgraph.nodes if n.name == layer.anchor)
    w, _, attrs = _weights(anchor, graph)
    wq = qgraph.constants[qanchor.inputs[1]].astype(np.float64)
    return WeightDelta(
        anchor, wq * 2.0 ** _exp_column(layer.weight_exponents(), wq.ndim) - w, attrs
    )


def apply_delta(wd: WeightDelta, x: np.ndarray, opset: int) -> np.ndarray:
    """The layer's linear part with weights `wd.delta` (no bias) on the float input `x`:
    the error weight rounding adds to the layer's accumulator."""
    if wd.anchor.op == "Conv":
        node = Node("weight_delta", "Conv", ("x", "w"), ("y",), wd.attrs)
        args = [x.astype(np.float32), wd.delta.astype(np.float32)]
        return run_node(node, args, opset)[0].astype(np.float64)
    return x.reshape(-1, x.shape[-1]).astype(np.float64) @ wd.delta.T
