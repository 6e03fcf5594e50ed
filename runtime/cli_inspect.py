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


def _calib_arg(text: str) -> int | str:
    """--calib: a count of random inputs, or the name of a built-in photo set."""
    from runtime.sample_images import SET_NAME

    if text == SET_NAME:
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer or {SET_NAME!r}, got {text!r}"
        ) from None


def _names_arg(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected NODE[,NODE...], got {text!r}")
    return names


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
        type=_calib_arg,
        default=2,
        metavar="N|skimage",
        help="N random calibration inputs (uniform in [0,1); default 2), or 'skimage': the "
        "scikit-image calibration photos (the error is then measured on its evaluation photos)",
    )
    p.add_argument(
        "--method",
        default="percentile",
        choices=["max", "percentile", "mse", "hist_mse", "entropy", "auto"],
        help="activation calibration method (default percentile; auto: chosen per value)",
    )
    p.add_argument(
        "--bias-correction",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fold weight rounding's measured mean shift into the int32 biases (default on)",
    )
    p.add_argument(
        "--quant-report",
        action="store_true",
        help="list every int8 layer's own error (SQNR, relative L2), worst first",
    )
    p.add_argument(
        "--keep-float",
        type=_names_arg,
        action="extend",
        default=[],
        metavar="NODE,...",
        help="keep these conv/dense nodes in float",
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
    from compiler.graph.accel_int8 import alu_mul_nodes
    from compiler.graph.executor import ExecutionError
    from compiler.graph.ir import GraphError
    from compiler.graph.passes.fuse_ops import group_table
    from compiler.graph.passes.partition import partition_report
    from compiler.graph.printer import print_graph
    from compiler.graph.ref import KernelError
    from hw_sim.config import ConfigError, load_config
    from runtime.inputs import InputFileError

    notes: list[str] = []
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
    except (GraphError, KernelError, ExecutionError, InputFileError) as e:  # name the node
        print(f"vtac inspect: {e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("vtac inspect: out of memory while calibrating; give smaller input shapes "
              "(--shape NAME=...)", file=sys.stderr)  # fmt: skip
        return 1
    report = partition_report(final, float_graph)
    mul_nodes = alu_mul_nodes(final)
    if args.json:
        doc = {"model": graph.name, "config": cfg.name, "quantized": not args.float_only,
               "fusion_groups": len(group_table(final)), **report.to_json()}  # fmt: skip
        if cfg.ALU_MUL:  # the nodes whose programs VTA's Chisel/HLS cannot run
            doc["alu_mul_nodes"] = mul_nodes
        print(json.dumps(doc))
        return 0
    print()
    print(print_graph(final, show_constants=args.constants), end="")
    print(f"\nfusion: {len(group_table(final))} group(s)")
    print(quant_text)
    print()
    print(report.render())
    if mul_nodes:
        print(f"uses the ALU's MUL: {len(mul_nodes)} accelerator node(s) (HardSwish, Mul); "
              "not portable to VTA's Chisel/HLS hardware")  # fmt: skip
    return 0


def _load(model: str, shapes: dict, notes: list[str]):
    """The float graph of an .onnx path or a built-in model name (ValueError: neither)."""
    from compiler.frontend.onnx_import import import_onnx
    from compiler.models import BUILTIN_MODELS, build_builtin

    if model in BUILTIN_MODELS and not Path(model).exists():
        return build_builtin(model, shapes)
    try:
        input_file(model)
    except argparse.ArgumentTypeError as e:
        names = ", ".join(BUILTIN_MODELS)
        raise ValueError(f"{e} (and not a built-in model: {names})") from None
    return import_onnx(model, shapes=shapes, notes=notes)


def _samples(graph, args: argparse.Namespace) -> tuple[list, list, str]:
    """(calibration samples, evaluation samples, where they come from)."""
    import numpy as np

    if isinstance(args.calib, str):
        from runtime.sample_images import sample_set

        inputs = {n: (graph.types[n].shape, graph.types[n].dtype) for n in graph.inputs}
        calib = sample_set("calibration", inputs, args.model)
        evals = sample_set("evaluation", inputs, args.model)
        return calib, evals, (f"calibrated on {len(calib)} {args.calib} photos, measured on "
                              f"{len(evals)} others")  # fmt: skip
    rng = np.random.default_rng(0)
    samples = [
        {n: rng.random(graph.types[n].shape, dtype=np.float32).astype(graph.types[n].dtype)
         for n in graph.inputs}
        for _ in range(args.calib + 1)
    ]  # fmt: skip
    return (
        samples[:-1],
        samples[-1:],
        "calibrated and measured on random inputs; use --calib skimage for real photos",
    )


def _compile(graph, cfg, args: argparse.Namespace) -> tuple:
    """The graph through every pass, the float graph it came from (after `optimize`), and the
    quantization report's text."""
    from compiler.graph.passes.fuse_ops import fuse_ops
    from compiler.graph.passes.partition import partition
    from compiler.graph.pipeline import compile_for_accel, optimize
    from compiler.graph.quant.report import quantization_error, render_quant_report

    if args.float_only:
        float_graph = optimize(graph)
        final = fuse_ops(partition(float_graph, cfg))
        quant_text = "quantization: skipped (--float)"
    else:
        calib, evals, where = _samples(graph, args)
        result = compile_for_accel(
            graph, cfg, calib, args.method, weight_method=args.weights,
            keep_first_float=args.keep_first_float, keep_last_float=args.keep_last_float,
            keep_float=args.keep_float, bias_correction=args.bias_correction,
            per_channel=not args.per_tensor,
        )  # fmt: skip
        final, float_graph = result.graph, result.float_graph
        errors = quantization_error(result.float_graph, final, evals)
        quant_text = render_quant_report(result.plan, errors)
        if args.quant_report:
            from compiler.graph.quant.layer_report import layer_errors, render_layer_errors

            info = result.calibration
            rows = layer_errors(info.source_graph, info.quant_graph, result.plan, evals,
                                info.chosen, info.bias_shift)  # fmt: skip
            quant_text += "\n" + render_layer_errors(rows)
        quant_text += f"\n({where})"
    return final, float_graph, quant_text
