"""The per-layer int8 error report (`vtac inspect --quant-report`): each quantized layer's own
error, worst first, with the calibration method behind its exponents.

A layer's error is measured with the layer alone in int8: its inputs are the *float* values of
the float graph, quantized at the exponents the graph uses, and its int8 output (requantized,
dequantized) is compared with the float output of the same layer. This isolates what the layer
adds; errors then compound through the following layers. SQNR = 10 log10(sum f**2 /
sum (q - f)**2) in dB; relative L2 = ||q - f|| / ||f||. The `weights` column is the part of
weight rounding alone: ||conv(x, W_q * 2**e_w - W)|| / ||conv(x, W) + b|| on the float input
(what per-channel weight scales would reduce).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph
from compiler.graph.quant.layers import (
    apply_delta,
    error_stats,
    int8_sources,
    layer_accumulator,
    layer_nodes,
    requantized,
    sqnr_db,
    weight_delta,
)
from compiler.graph.quant.quantize import QuantPlan


@dataclass(frozen=True)
class LayerError:
    anchor: str
    output: str
    sqnr_db: float
    rel_l2: float
    method_in: str
    method_out: str
    bias_shift: float | None  # largest bias correction folded in (None: none applied)
    weight_rel_l2: float  # the weight rounding's part: ||conv(x, W_q - W)|| / ||conv(x, W) + b||


def _ratio(err: float, ref: float) -> float:
    """sqrt(err / ref): a relative L2 error from sums of squares."""
    if ref > 0:
        return float(np.sqrt(err / ref))
    return 0.0 if err == 0 else float("inf")


def layer_errors(
    float_graph: Graph,
    quant_graph: Graph,
    plan: QuantPlan,
    samples: Iterable[Mapping[str, np.ndarray]],
    chosen: Mapping[str, str] | None = None,
    bias_shift: Mapping[str, float] | None = None,
) -> list[LayerError]:
    """Every quantized layer's own error over the samples, worst (lowest SQNR) first.
    `quant_graph` is the graph `quantize_int8` returned (before partitioning)."""
    chosen, bias_shift = chosen or {}, bias_shift or {}
    layers = [(layer, layer_nodes(quant_graph, layer)) for layer in plan.layers]
    sources = int8_sources(quant_graph, [ln for _, ln in layers], plan.int8_forms)
    deltas = {layer.anchor: weight_delta(float_graph, quant_graph, layer) for layer in plan.layers}
    err = dict.fromkeys((layer.anchor for layer in plan.layers), 0.0)
    ref, w_err, w_ref = dict(err), dict(err), dict(err)
    for feeds in samples:
        env = run_graph(float_graph, feeds, keep_all=True)
        for layer, nodes in layers:
            acc = layer_accumulator(quant_graph, nodes, env, sources)
            e, r = error_stats(requantized(nodes, acc), env[nodes.output])
            err[layer.anchor] += e
            ref[layer.anchor] += r
            wd = deltas[layer.anchor]
            dy = apply_delta(wd, env[wd.anchor.inputs[0]], float_graph.opset)
            w_err[layer.anchor] += float(np.sum(dy * dy))
            w_ref[layer.anchor] += float(np.sum(env[wd.anchor.outputs[0]].astype(np.float64) ** 2))
    by_anchor = {n.name: n for n in float_graph.nodes}
    rows = []
    for layer, nodes in layers:
        e, r = err[layer.anchor], ref[layer.anchor]
        x = by_anchor[layer.anchor].inputs[0] if layer.anchor in by_anchor else ""
        rows.append(
            LayerError(
                layer.anchor,
                nodes.output,
                sqnr_db(e, r),
                _ratio(e, r),
                chosen.get(x, "-"),
                chosen.get(layer.output, "-"),
                bias_shift.get(layer.anchor),
                _ratio(w_err[layer.anchor], w_ref[layer.anchor]),
            )
        )
    return sorted(rows, key=lambda row: row.sqnr_db)


def render_layer_errors(rows: list[LayerError], top: int | None = None) -> str:
    shown = rows if top is None else rows[:top]
    lines = [
        f"per-layer int8 error ({len(rows)} layer(s), each alone in int8 on float inputs; "
        "worst first):",
        f"  {'layer':<32} {'SQNR dB':>8} {'rel L2':>8} {'weights':>8}  calibration (in / out)"
        "  bias corr.",
    ]
    for r in shown:
        bias = "-" if r.bias_shift is None else f"{r.bias_shift:.2g}"
        lines.append(f"  {r.anchor[:32]:<32} {r.sqnr_db:8.1f} {100 * r.rel_l2:7.2f}% "
                     f"{100 * r.weight_rel_l2:7.2f}%  "
                     f"{r.method_in + ' / ' + r.method_out:<22}  {bias}")  # fmt: skip
    if top is not None and len(rows) > top:
        lines.append(f"  ... {len(rows) - top} more")
    return "\n".join(lines)
