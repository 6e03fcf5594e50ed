"""`vtac inspect model.onnx`: import, optimize, quantize, partition, pack and fuse a model, then
print the graph, the quantization report and the partition / CPU-fallback report (MACs on the
unpadded layer shapes, the channel padding apart, and the accelerator <-> CPU boundary
crossings). `--json` prints only the partition summary, as one JSON object. MODEL may name a
built-in model (resnet18, mobilenet, yolo; size it with --shape input=1,3,H,W)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runtime.cli_args import input_file, positive_int


def _parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected NAME=D0,D1,... ")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: dimensions must be integers") from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"--shape {text!r}: dimensions must be >= 0")
    return name, shape


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="print a model's graph, partition and CPU-fallback report",
        description=__doc__,
    )
    p.add_argument("model", help="an .onnx file or a built-in model name")
    p.add_argument(
        "--shape",
        action="append",
        type=_parse_shape,
        default=[],
        metavar="NAME=D0,D1,...",
        help="static shape for an input (repeatable)",
    )
    p.add_argument("--config", default="default", help="hardware config name or .json path")
    p.add_argument(
        "--float",
        dest="float_only",
        action="store_true",
        help="skip int8 quantization (everything then stays on the CPU)",
    )
    p.add_argument(
        "--calib",
        type=positive_int,
        default=2,
        help="random calibration inputs (uniform in [0,1); default 2)",
    )
    p.add_argument(
        "--method",
        default="percentile",
        choices=["max", "percentile", "mse"],
        help="activation calibration method (default percentile)",
    )
    p.add_argument(
        "--weights",
        default="mse",
        choices=["max", "mse"],
        help="weight exponent choice (default mse: least squared error)",
    )
    p.add_argument(
        "--per-tensor",
        action="store_true",
        help="one weight scale per tensor instead of per output channel",
    )
    p.add_argument("--keep-first-float", action="store_true", help="keep the first layer float")
    p.add_argument("--keep-last-float", action="store_true", help="keep the last layer float")
    p.add_argument("--constants", action="store_true", help="list every constant in the graph")
    p.add_argument("--json", action="store_true",
                   help="print only the partition summary as one JSON object")  # fmt: skip
    p.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from compiler.frontend.onnx_import import FrontendError
    from compiler.graph.executor import ExecutionError
    from compiler.graph.ir import GraphError
    from compiler.graph.passes.fuse_ops import group_table
    from compiler.graph.passes.partition import partition_report
    from compiler.graph.printer import print_graph
    from compiler.graph.ref import KernelError
    from hw_sim.config import ConfigError, load_config

    notes: list[str] = []
    if args.calib < 1 and not args.float_only:
        print("vtac inspect: --calib needs at least 1 calibration input", file=sys.stderr)
        return 1
    try:
        cfg = load_config(args.config)
        graph = _load(args.model, dict(args.shape), notes)
    except (FrontendError, ConfigError, GraphError, KernelError, ValueError) as e:
        print(f"vtac inspect: {e}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.json:
        print(f"model {graph.name}: opset {graph.opset}, {len(graph.nodes)} nodes, "
              f"{len(graph.constants)} constants; hardware {cfg.summary()}")  # fmt: skip
    try:
        final, float_graph, quant_text = _compile(graph, cfg, args)
    except (GraphError, KernelError, ExecutionError) as e:  # errors name the node at fault
        print(f"vtac inspect: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("vtac inspect: out of memory while calibrating; give smaller input shapes "
              "(--shape NAME=...)", file=sys.stderr)  # fmt: skip
        return 1
    report = partition_report(final, float_graph)
    if args.json:
        doc = {"model": graph.name, "config": cfg.name, "quantized": not args.float_only,
               "fusion_groups": len(group_table(final)), **report.to_json()}  # fmt: skip
        print(json.dumps(doc))
        return 0
    print()
    print(print_graph(final, show_constants=args.constants), end="")
    print(f"\nfusion: {len(group_table(final))} group(s)")
    print(quant_text)
    print()
    print(report.render())
    return 0


def _load(model: str, shapes: dict, notes: list[str]):
    """The float graph of an .onnx path or a built-in model name (ValueError: neither)."""
    from compiler.frontend.onnx_import import import_onnx
    from compiler.models import BUILTIN_MODELS

    if model in BUILTIN_MODELS and not Path(model).exists():
        kwargs = {}
        if "input" in shapes:
            kwargs = {"batch": shapes["input"][0], "image": shapes["input"][2]}
        return BUILTIN_MODELS[model](**kwargs)
    try:
        input_file(model)
    except argparse.ArgumentTypeError as e:
        names = ", ".join(BUILTIN_MODELS)
        raise ValueError(f"{e} (and not a built-in model: {names})") from None
    return import_onnx(model, shapes=shapes, notes=notes)


def _compile(graph, cfg, args: argparse.Namespace) -> tuple:
    """The graph through every pass, the float graph it came from (after `optimize`), and the
    quantization report's text."""
    import numpy as np

    from compiler.graph.passes.fuse_ops import fuse_ops
    from compiler.graph.passes.partition import partition
    from compiler.graph.pipeline import compile_for_accel, optimize
    from compiler.graph.quant.report import quantization_error, render_quant_report

    if args.float_only:
        float_graph = optimize(graph)
        final = fuse_ops(partition(float_graph, cfg))
        quant_text = "quantization: skipped (--float)"
    else:
        rng = np.random.default_rng(0)
        samples = [
            {n: rng.random(graph.types[n].shape, dtype=np.float32).astype(graph.types[n].dtype)
             for n in graph.inputs}
            for _ in range(args.calib + 1)
        ]  # fmt: skip
        result = compile_for_accel(
            graph, cfg, samples[:-1], args.method, weight_method=args.weights,
            keep_first_float=args.keep_first_float, keep_last_float=args.keep_last_float,
            per_channel=not args.per_tensor,
        )  # fmt: skip
        final, float_graph = result.graph, result.float_graph
        errors = quantization_error(result.float_graph, final, samples[-1:])
        quant_text = render_quant_report(result.plan, errors)
        quant_text += "\n(calibrated and measured on random inputs; use real samples for accuracy)"
    return final, float_graph, quant_text
