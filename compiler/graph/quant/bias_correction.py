"""Bias correction: fold a measured per-output-channel mean shift of each int8 layer's
accumulator into its int32 bias (Nagel et al., "Data-Free Quantization Through Weight
Equalization and Bias Correction", 2019, the empirical variant).

Two measurements, both on the calibration samples:
- `weights`: the shift weight rounding alone adds, mean(conv(x, W_q * 2**e_w - W)) with x the
  float input of the layer;
- `empirical`: the whole shift of the layer's accumulator against the float layer, with the
  layer fed by the int8 network before it (weight rounding, and the biased errors upstream
  clipping leaves). Layers are corrected in graph order, each after the ones before it, in one
  pass over the samples: the quantized graph is run node by node on all samples at once, and
  each anchor's accumulator is corrected as soon as its shift is known. Layers with too few
  values per channel for a mean (`MIN_VALUES_PER_CHANNEL`) get the `weights` shift.
Only bias constants change: the int8 datapath and its bit-exactness are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from compiler.graph.executor import run_graph, run_node
from compiler.graph.ir import Graph, GraphError, Node, TensorType
from compiler.graph.quant.layers import apply_delta, weight_delta
from compiler.graph.quant.quantize import INT32_MAX, INT32_MIN, QuantPlan, constant_bias

MODES = ("weights", "empirical")
# An empirical shift is a mean over samples x positions per channel; with fewer values than
# this (e.g. a classifier's last dense layer on a few images) it mostly fits those images'
# own errors, so such layers get the weight-rounding shift instead.
MIN_VALUES_PER_CHANNEL = 256


def _channel_mean(y: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-channel sum of an NCHW (channel axis 1) or [N, C] value, and the count per channel."""
    axes = (0, *range(2, y.ndim)) if y.ndim > 2 else (0,)
    return y.sum(axis=axes), y.size // y.shape[1]


def _e_acc(layer) -> np.ndarray:
    return np.asarray(layer.exp_in + layer.weight_exponents(), np.float64)


def _float_reference(graph: Graph, anchor: Node) -> str:
    """The float value a layer's accumulator stands for: the anchor's output, or that of the
    constant-bias Add right after it (which quantize_int8 folds into the int32 bias)."""
    uses = graph.consumers().get(anchor.outputs[0], [])
    if len(uses) == 1 and constant_bias(uses[0], graph, anchor) is not None:
        return uses[0].outputs[0]
    return anchor.outputs[0]


class _BiasEditor:
    """Edits int32 bias constants of a quantized graph (adding one where a layer has none)."""

    def __init__(self, qgraph: Graph) -> None:
        self.qgraph = qgraph
        self.constants = dict(qgraph.constants)
        self.types = dict(qgraph.types)
        self.nodes = list(qgraph.nodes)
        self.index = {n.name: i for i, n in enumerate(self.nodes)}

    def subtract(self, anchor: str, delta: np.ndarray) -> None:
        node = self.nodes[self.index[anchor]]
        if len(node.inputs) > 2 and node.inputs[2]:
            name, inputs = node.inputs[2], node.inputs
            b = self.constants[name].astype(np.int64)
        else:
            name = f"{anchor}_bq_corr"
            if name in self.types:
                raise GraphError(f"layer {anchor!r}: value name {name!r} is taken")
            inputs = (*node.inputs[:2], name)
            b = np.zeros(delta.shape[0], np.int64)
        self.constants[name] = np.clip(b - delta, INT32_MIN, INT32_MAX).astype(np.int32)
        self.types[name] = TensorType.of(self.constants[name])
        self.nodes[self.index[anchor]] = Node(node.name, node.op, inputs, node.outputs,
                                              node.attrs)  # fmt: skip

    def graph(self) -> Graph:
        return self.qgraph.with_nodes(self.nodes, types=self.types, constants=self.constants)


def correctable(layer, graph: Graph) -> bool:
    """A bias shift compensates a mean only when additions alone follow the anchor before its
    requantize: not before a `Max` (LeakyRelu / PRelu as max(v, slope * v), whose slope conv's
    zero bias is part of the exact construction, `passes/prelu_as_conv.py`)."""
    ops = {n.name: n.op for n in graph.nodes}
    return all(ops.get(step) != "Max" for step in layer.epilogue)


def weight_shift_correction(
    graph: Graph, qgraph: Graph, plan: QuantPlan, samples: Sequence[Mapping[str, np.ndarray]]
) -> tuple[Graph, dict[str, float]]:
    """The `weights` mode; returns the corrected graph and max |shift| per layer."""
    work = [
        (layer, weight_delta(graph, qgraph, layer))
        for layer in plan.layers
        if correctable(layer, graph)
    ]
    sums = {layer.anchor: 0.0 for layer, _ in work}
    counts = dict.fromkeys(sums, 0)
    for feeds in samples:
        env = run_graph(graph, feeds, keep_all=True)
        for layer, wd in work:
            s, n = _channel_mean(apply_delta(wd, env[wd.anchor.inputs[0]], graph.opset))
            sums[layer.anchor] = sums[layer.anchor] + s
            counts[layer.anchor] += n
    editor, shifts = _BiasEditor(qgraph), {}
    for layer, _ in work:
        if counts[layer.anchor]:
            shift = sums[layer.anchor] / counts[layer.anchor]
            shifts[layer.anchor] = float(np.abs(shift).max())
            delta = np.rint(shift / 2.0 ** _e_acc(layer)).astype(np.int64)
            if delta.any():
                editor.subtract(layer.anchor, delta)
    return editor.graph(), shifts


def empirical_correction(
    graph: Graph, qgraph: Graph, plan: QuantPlan, samples: Sequence[Mapping[str, np.ndarray]]
) -> tuple[Graph, dict[str, float]]:
    """The `empirical` mode; returns the corrected graph and max |shift| per layer."""
    by_name = {n.name: n for n in graph.nodes}
    layers = {layer.anchor: layer for layer in plan.layers if correctable(layer, graph)}
    refs = {a: _float_reference(graph, by_name[a]) for a in layers}
    want: dict[str, list[np.ndarray]] = {a: [] for a in layers}
    thin = {a: weight_delta(graph, qgraph, layer) for a, layer in layers.items()
            if len(samples) * _channel_mean(np.zeros(graph.types[refs[a]].shape))[1]
            < MIN_VALUES_PER_CHANNEL}  # fmt: skip
    thin_sums = dict.fromkeys(thin, 0.0)
    for feeds in samples:
        env = run_graph(graph, feeds, keep_all=True)
        for a, ref in refs.items():
            want[a].append(env[ref])
        for a, wd in thin.items():
            thin_sums[a] = (
                thin_sums[a]
                + _channel_mean(apply_delta(wd, env[wd.anchor.inputs[0]], graph.opset))[0]
            )
    editor, shifts = _BiasEditor(qgraph), {}
    last_use: dict[str, int] = {}
    for i, n in enumerate(qgraph.nodes):
        for v in n.inputs:
            last_use[v] = i
    keep = set(qgraph.constants)
    envs = [dict(feeds) for feeds in samples]
    for i, node in enumerate(qgraph.nodes):
        outs = []
        for env in envs:
            args = [(env[v] if v in env else qgraph.constants[v]) if v else None
                    for v in node.inputs]  # fmt: skip
            outs.append(run_node(node, args, qgraph.opset))
        if node.name in layers and node.op in ("vtac.conv2d", "vtac.dense"):
            layer = layers[node.name]
            e_acc = _e_acc(layer)
            total, count = 0.0, 0
            for out, ref in zip(outs, want[node.name], strict=True):
                acc = out[0].astype(np.float64) * 2.0 ** _broadcast(e_acc, out[0].ndim)
                s, c = _channel_mean(acc - ref.astype(np.float64))
                total, count = total + s, count + c
            if node.name in thin:
                total, count = thin_sums[node.name], count
            shift = total / count
            shifts[node.name] = float(np.abs(shift).max())
            delta = np.rint(shift / 2.0**e_acc).astype(np.int64)
            if delta.any():
                editor.subtract(node.name, delta)
                d = _broadcast(delta, outs[0][0].ndim)
                outs = [((o[0].astype(np.int64) - d).astype(np.int32), *o[1:]) for o in outs]
        for env, out in zip(envs, outs, strict=True):
            for name, value in zip(node.outputs, out, strict=False):
                if name:
                    env[name] = np.asarray(value)
            for v in node.inputs:
                if v and last_use.get(v) == i and v not in keep:
                    env.pop(v, None)
    return editor.graph(), shifts


def _broadcast(per_channel: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector (or a scalar) shaped to broadcast along axis 1 of an ndim value."""
    a = np.asarray(per_channel)
    return a.reshape((1, -1) + (1,) * (ndim - 2)) if a.ndim else a


def correct_biases(
    graph: Graph,
    qgraph: Graph,
    plan: QuantPlan,
    samples: Sequence[Mapping[str, np.ndarray]],
    mode: str = "empirical",
) -> tuple[Graph, dict[str, float]]:
    if mode == "weights":
        return weight_shift_correction(graph, qgraph, plan, samples)
    if mode == "empirical":
        return empirical_correction(graph, qgraph, plan, samples)
    raise ValueError(f"bias correction {mode!r} is not one of {MODES}")
