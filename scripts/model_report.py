"""Measure the real models in the cache: reference vs onnxruntime, graph sizes through the
passes, int8 quantization error and the partition. Prints a Markdown table for docs/graph.md.
The int8 error is calibrated and measured on the skimage photos (`runtime/sample_images.py`,
disjoint calibration/evaluation sets; `--random` for random inputs).

    .venv/bin/python scripts/model_report.py [--config default] [--samples 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.frontend.onnx_import import (  # noqa: E402
    default_opset,
    import_onnx,
    load_model,
    upgrade_opset,
)
from compiler.graph.executor import run_graph  # noqa: E402
from compiler.graph.passes.partition import partition_report  # noqa: E402
from compiler.graph.pipeline import compile_for_accel  # noqa: E402
from compiler.graph.quant.report import quantization_error  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.sample_images import sample_set  # noqa: E402
from tests.graph.real_models import (  # noqa: E402
    INPUT_SHAPES,
    cached_models,
    comparison_points,
    judged_by_logits,
    model_inputs,
    onnxruntime_values,
    relative_error,
)


def measure(
    path: Path, cfg, samples: int, method: str, weights: str, evals: int = 1, photos: bool = True
) -> dict:
    model, _ = load_model(path)
    opset = default_opset(model)
    if opset < 11:
        model = upgrade_opset(model)
    graph = import_onnx(model, shapes=INPUT_SHAPES.get(path.stem, {}))
    rng = np.random.default_rng(0)
    feeds = model_inputs(graph, rng)
    points = comparison_points(graph)
    approximated = judged_by_logits(graph)
    judged = [p for p in points if p not in approximated]
    ours = run_graph(graph, feeds, keep_all=True)
    theirs = onnxruntime_values(model, judged, feeds)
    ref_err = max(relative_error(ours[p], theirs[p]) for p in judged)
    if photos:  # the skimage calibration photos, and the disjoint evaluation photos
        inputs = {n: (graph.types[n].shape, graph.types[n].dtype) for n in graph.inputs}
        calib = sample_set("calibration", inputs, path.stem)[:samples]
        evaluation = sample_set("evaluation", inputs, path.stem)[:evals]
    else:
        data = [model_inputs(graph, rng) for _ in range(samples + evals)]
        calib, evaluation = data[:samples], data[samples:]
    start = time.perf_counter()
    result = compile_for_accel(graph, cfg, calib, method=method, weight_method=weights)
    seconds = time.perf_counter() - start
    # Judged like the reference check: through the logits of a final softmax/sigmoid.
    qpoints = [p for p in comparison_points(result.float_graph) if p not in graph.outputs]
    errors = quantization_error(
        result.float_graph, result.graph, evaluation, qpoints or list(graph.outputs)
    )
    report = partition_report(result.graph, result.float_graph)  # MACs on unpadded shapes
    total = report.accel_macs + report.cpu_macs
    return {
        "model": path.stem,
        "opset": opset,
        "nodes": len(graph.nodes),
        "optimized": len(result.float_graph.nodes),
        "ref_err": ref_err,
        "judged": (
            "logits"
            if approximated
            else ("outputs, logits" if len(judged) > len(graph.outputs) else "outputs")
        ),
        "quant_rel_l2": max(e.rel_l2 for e in errors),
        "top1": errors[0].top1_agreement,
        "int8_layers": len(result.plan.layers),
        "accel_share": report.accel_macs / total if total else 0.0,
        "cpu_ops": sorted({op for op, _, _ in report.fallbacks}),
        "compile_s": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--samples", type=int, default=10, help="calibration samples")
    parser.add_argument(
        "--method",
        default="percentile",
        choices=["max", "percentile", "mse", "hist_mse", "entropy", "auto"],
    )
    parser.add_argument("--random", action="store_true",
                        help="random inputs instead of the skimage photos")  # fmt: skip
    parser.add_argument("--weights", default="mse", choices=["max", "mse"])
    parser.add_argument("--only", default="", help="only models whose name contains this")
    parser.add_argument("--eval", type=int, default=10, help="inputs the int8 error is measured on")
    args = parser.parse_args(argv)
    models = [m for m in cached_models() if args.only in m.stem]
    if not models:
        print("model cache is empty: run scripts/fetch_models.py", file=sys.stderr)
        return 1
    cfg = load_config(args.config)
    what = "random inputs" if args.random else "skimage photos"
    print(f"config {cfg.name}, activations: {args.method}, weights: {args.weights}, "
          f"calibrated on {args.samples} {what}, error on {args.eval} more\n")  # fmt: skip
    print("| model | opset | nodes (imported -> optimized) | max rel. error vs onnxruntime | "
          "int8 layers | int8 rel. L2 error | top-1 agreement | MACs on accel |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in models:
        r = measure(path, cfg, args.samples, args.method, args.weights, args.eval, not args.random)
        top1 = "-" if r["top1"] is None else f"{100 * r['top1']:.0f}%"
        print(f"| {r['model']} | {r['opset']} | {r['nodes']} -> {r['optimized']} | "
              f"{r['ref_err']:.1e} ({r['judged']}) | {r['int8_layers']} | "
              f"{100 * r['quant_rel_l2']:.2f}% | {top1} | {100 * r['accel_share']:.1f}% |",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
