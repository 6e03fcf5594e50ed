"""The quantization report: the quantized model's output error against the float model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph
from compiler.graph.quant.quantize import QuantPlan


@dataclass(frozen=True)
class OutputError:
    output: str
    max_abs: float  # max |q - f|
    rel_l2: float  # ||q - f|| / ||f||
    top1_agreement: float | None  # share of rows whose argmax agrees (2-D outputs), else None


def quantization_error(
    float_graph: Graph,
    quant_graph: Graph,
    samples: Iterable[Mapping[str, np.ndarray]],
    points: list[str] | None = None,
) -> list[OutputError]:
    """Error of every graph output (or of the named float values `points`, e.g. the logits
    before a final softmax), accumulated over the samples."""
    points = list(points or float_graph.outputs)
    diffs: dict[str, list[np.ndarray]] = {o: [] for o in points}
    refs: dict[str, list[np.ndarray]] = {o: [] for o in points}
    keep = points != list(float_graph.outputs)
    for feeds in samples:
        f = run_graph(float_graph, feeds, keep_all=keep)
        q = run_graph(quant_graph, feeds, keep_all=keep)
        for o in points:
            refs[o].append(f[o].astype(np.float64))
            diffs[o].append(q[o].astype(np.float64) - f[o].astype(np.float64))
    result = []
    for o in points:
        ref, diff = np.stack(refs[o]), np.stack(diffs[o])
        norm = float(np.linalg.norm(ref))
        top1 = None
        if ref.ndim == 3 and ref.shape[-1] > 1:  # samples x batch x classes
            agree = np.argmax(ref, -1) == np.argmax(ref + diff, -1)
            top1 = float(agree.mean())
        result.append(
            OutputError(
                o,
                float(np.abs(diff).max()) if diff.size else 0.0,  # a zero-size output: no error
                float(np.linalg.norm(diff)) / norm if norm else 0.0,
                top1,
            )
        )
    return result


def render_quant_report(plan: QuantPlan, errors: list[OutputError] | None = None) -> str:
    lines = [f"quantization: {len(plan.layers)} layer(s) int8, {len(plan.kept_float)} kept float"]
    for layer in plan.layers:
        epi = f" + {', '.join(layer.epilogue)}" if layer.epilogue else ""
        lines.append(
            f"  {layer.anchor}{epi}: in 2^{layer.exp_in}, weights 2^{layer.exp_w}, "
            f"out 2^{layer.exp_out}"
        )
    for name, why in plan.kept_float.items():
        lines.append(f"  {name}: float ({why})")
    for e in errors or []:
        top1 = (
            f", top-1 agreement {100 * e.top1_agreement:.1f}%"
            if e.top1_agreement is not None
            else ""
        )
        lines.append(
            f"output {e.output}: max abs error {e.max_abs:.4g}, relative L2 error "
            f"{100 * e.rel_l2:.2f}%{top1}"
        )
    return "\n".join(lines)
