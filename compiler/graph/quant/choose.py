"""Calibrate and quantize with a per-value choice of calibration method, bias correction and
user-kept float layers: what `compile_for_accel` runs between `optimize` and `partition`.

`method="auto"` chooses per value, and records the choice:
1. every float value gets the exponent of the method (max, percentile, mse, hist_mse, entropy)
   with the least expected squared error on its calibration histogram (`histogram.py`);
2. then every quantized layer's *output* exponent is re-chosen among the methods' exponents by
   the least squared error of the layer's real int8 output (accumulate, requantize with its
   rounding and ReLU/Clip bounds, dequantize) against the float output, measured on the
   calibration samples with the layer run on float inputs (`layers.py`).
A fixed method name uses that method for every value.

`weight_rounding="gptq"` rounds each layer's int8 weights to keep its output on the calibration
samples close (`weight_rounding.py`); "nearest" (default) rounds every weight to nearest. GPTQ is
opt-in: it lowers ResNet-18's and the light models' error (docs/quantization.md) but raised
PP-OCR-cls's (40.5 % -> 61.1 %) and light SqueezeNet's, for reasons not yet understood.
`bias_correction` (True = "weights", or "empirical") folds each layer's measured mean shift
into its int32 bias (`bias_correction.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph, GraphError, Node
from compiler.graph.quant.bias_correction import correct_biases
from compiler.graph.quant.calibrate import (
    METHODS,
    ValueStats,
    collect_stats,
    free_ranges_of,
    ranges_of,
)
from compiler.graph.quant.histogram import expected_sq_error
from compiler.graph.quant.layers import (
    error_stats,
    int8_sources,
    layer_accumulator,
    layer_nodes,
    requantized,
)
from compiler.graph.quant.quantize import QuantPlan, _is_anchor, _weights, quantize_int8
from compiler.graph.quant.weight_rounding import ROUNDINGS, collect_moments, round_weights

CHOICE_METHODS = ("hist_mse", "mse", "entropy", "percentile", "max")  # ties: earlier wins
ANCHOR_OPS = ("Conv", "Gemm", "MatMul")


@dataclass
class CalibrationInfo:
    """What calibration chose: the method behind every quantized value's exponent, the bias
    correction per layer, and the quantized graph before partitioning (for reports)."""

    method: str
    chosen: dict[str, str] = field(default_factory=dict)  # float value -> method
    bias_shift: dict[str, float] = field(default_factory=dict)  # layer -> max |correction|
    quant_graph: Graph | None = None
    source_graph: Graph | None = None  # the float graph it was quantized from (after rewrites)
    equalize: dict = field(default_factory=dict)  # depthwise equalization: chosen?, errors
    requant: dict = field(default_factory=dict)  # requantization scheme: chosen, errors


def check_keep_float(graph: Graph, names: Sequence[str]) -> None:
    """Clear errors for --keep-float names that are not conv/dense nodes of `graph`."""
    by_name = {n.name: n for n in graph.nodes}
    for name in names:
        node = by_name.get(name)
        if node is None:
            known = [n.name for n in graph.nodes if n.op in ANCHOR_OPS]
            hint = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise GraphError(f"--keep-float {name}: no node of that name in the optimized graph "
                             f"(conv/dense nodes: {hint or 'none'})")  # fmt: skip
        if node.op not in ANCHOR_OPS:
            raise GraphError(f"--keep-float {name}: node is a {node.op}, not a conv/dense layer "
                             "(only those are quantized)")  # fmt: skip


def _value_choice(stats: Mapping[str, ValueStats], methods: Sequence[str]) -> dict[str, str]:
    """Per value, the method whose exponent has the least expected squared error."""
    chosen = {}
    for name, st in stats.items():
        errs = {m: expected_sq_error(st.hist, st.exponent(m)) for m in methods}
        chosen[name] = min(methods, key=lambda m: errs[m])
    return chosen


def quantize_calibrated(
    graph: Graph,
    samples: Iterable[Mapping[str, np.ndarray]],
    method: str = "percentile",
    percentile: float = 99.99,
    weight_mse: bool = True,
    keep_first_float: bool = False,
    keep_last_float: bool = False,
    keep_float: Sequence[str] = (),
    bias_correction: bool | str = False,
    skip: Callable[[Node, Graph], str | None] | None = None,
    measure_samples: int = 10,
    weight_rounding: str = "nearest",
    **quant_options,
) -> tuple[Graph, QuantPlan, CalibrationInfo]:
    """Calibrate `graph` (already optimized) on `samples` and quantize it; `quant_options`
    pass through to `quantize_int8` (e.g. a per-channel weight option)."""
    if method != "auto" and method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not 'auto' or one of {METHODS}")
    if weight_rounding not in ROUNDINGS:
        raise ValueError(f"weight rounding {weight_rounding!r} is not one of {ROUNDINGS}")
    samples = list(samples)
    check_keep_float(graph, keep_float)
    kept = set(keep_float)

    def skip_all(node: Node, g: Graph) -> str | None:
        if node.name in kept:
            return "kept in float (--keep-float)"
        return skip(node, g) if skip else None

    stats = collect_stats(graph, samples, percentile, keep_subsample=method in ("mse", "auto"),
                          keep_hist=method in ("hist_mse", "entropy", "auto"))  # fmt: skip
    info = CalibrationInfo(method, source_graph=graph)
    measure = samples[:measure_samples]
    rounder = None
    if weight_rounding == "gptq":
        rounder = _data_aware_rounder(graph, measure, skip_all)

    def quantize(choice) -> tuple[Graph, QuantPlan]:
        free = {}
        if quant_options.get("requant") == "mul":  # scales need not be powers of two
            free["free_ranges"] = free_ranges_of(stats, choice)
        return quantize_int8(graph, ranges_of(stats, choice), keep_first_float, keep_last_float,
                             weight_mse=weight_mse, skip=skip_all, round_weights=rounder,
                             **free, **quant_options)  # fmt: skip

    if method == "auto":
        chosen = _value_choice(stats, CHOICE_METHODS)
        qgraph, plan = quantize(chosen)
        chosen.update(_output_choice(graph, qgraph, plan, stats, measure))
        qgraph, plan = quantize(chosen)
    else:
        chosen = dict.fromkeys(stats, method)
        qgraph, plan = quantize(method)
    if bias_correction:
        mode = "weights" if bias_correction is True else bias_correction
        qgraph, info.bias_shift = correct_biases(graph, qgraph, plan, measure, mode)
    anchors = {n.name: n for n in graph.nodes}
    used = {v for n in qgraph.nodes if n.op == "vtac.quantize" for v in n.inputs}
    used |= {layer.output for layer in plan.layers}
    used |= {anchors[layer.anchor].inputs[0] for layer in plan.layers}
    info.chosen = {v: m for v, m in chosen.items() if v in used}
    info.quant_graph = qgraph
    return qgraph, plan, info


def _data_aware_rounder(graph: Graph, samples, skip) -> Callable:
    """`round_weights` for `quantize_int8`: GPTQ on each eligible anchor's input moments,
    computed once per (layer, exponents) (auto quantizes twice with the same weights)."""
    anchors = [n for n in graph.nodes if n.op in ANCHOR_OPS
               and _is_anchor(n, graph) is None and skip(n, graph) is None]  # fmt: skip

    def weights(node: Node):
        w, _, attrs = _weights(node, graph)
        return w, attrs

    moments = collect_moments(graph, anchors, weights, samples)
    cache: dict[tuple, np.ndarray] = {}

    def rounder(node: Node, w: np.ndarray, exps: np.ndarray) -> np.ndarray:
        key = (node.name, tuple(float(e) for e in np.asarray(exps).reshape(-1)))  # free: floats
        if key not in cache:
            cache[key] = round_weights(w, exps, moments.get(node.name))
        return cache[key]

    return rounder


def _output_choice(graph, qgraph, plan, stats, samples) -> dict[str, str]:
    """Per layer output, the method whose exponent gives the least measured int8 error."""
    layers = [(layer, layer_nodes(qgraph, layer)) for layer in plan.layers]
    sources = int8_sources(qgraph, [ln for _, ln in layers], plan.int8_forms)
    cands = {
        layer.output: {m: stats[layer.output].exponent(m) for m in CHOICE_METHODS}
        for layer, _ in layers
        if layer.output in stats
    }
    errs: dict[str, dict[int, float]] = {o: {} for o in cands}
    for feeds in samples:
        env = run_graph(graph, feeds, keep_all=True)
        for layer, nodes in layers:
            if layer.output not in cands:
                continue
            acc = layer_accumulator(qgraph, nodes, env, sources)
            for e in set(cands[layer.output].values()):
                err, _ = error_stats(requantized(nodes, acc, e), env[nodes.output])
                errs[layer.output][e] = errs[layer.output].get(e, 0.0) + err
    out = {}
    for value, by_method in cands.items():
        out[value] = min(CHOICE_METHODS, key=lambda m: errs[value][by_method[m]])
    return out
