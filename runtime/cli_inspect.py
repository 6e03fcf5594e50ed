"""`vtac inspect model.onnx`: import, optimize, quantize, partition, pack and fuse a model, then
print the graph, the quantization report and the partition / CPU-fallback report."""

from __future__ import annotations

import argparse
import sys

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
    p.add_argument("model", type=input_file, help="an .onnx file")
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
    p.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from compiler.frontend.onnx_import import FrontendError, import_onnx
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
        graph = import_onnx(args.model, shapes=dict(args.shape), notes=notes)
    except (FrontendError, ConfigError, GraphError, KernelError) as e:
        print(f"vtac inspect: {e}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"model {graph.name}: opset {graph.opset}, {len(graph.nodes)} nodes, "
          f"{len(graph.constants)} constants; hardware {cfg.summary()}")  # fmt: skip
    try:
        final, quant_text = _compile(graph, cfg, args)
    except (GraphError, KernelError, ExecutionError) as e:  # errors name the node at fault
        print(f"vtac inspect: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("vtac inspect: out of memory while calibrating; give smaller input shapes "
              "(--shape NAME=...)", file=sys.stderr)  # fmt: skip
        return 1
    print()
    print(print_graph(final, show_constants=args.constants), end="")
    print(f"\nfusion: {len(group_table(final))} group(s)")
    print(quant_text)
    print()
    print(partition_report(final).render())
    return 0


def _compile(graph, cfg, args: argparse.Namespace) -> tuple:
    """The graph through every pass, and the quantization report's text."""
    import numpy as np

    from compiler.graph.passes.fuse_ops import fuse_ops
    from compiler.graph.passes.partition import partition
    from compiler.graph.pipeline import compile_for_accel, optimize
    from compiler.graph.quant.report import quantization_error, render_quant_report

    if args.float_only:
        final = fuse_ops(partition(optimize(graph), cfg))
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
        final = result.graph
        errors = quantization_error(result.float_graph, final, samples[-1:])
        quant_text = render_quant_report(result.plan, errors)
        quant_text += "\n(calibrated and measured on random inputs; use real samples for accuracy)"
    return final, quant_text
