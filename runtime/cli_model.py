"""`vtac compile`, `vtac run`, `vtac profile` and the model demo: whole models, end to end.

    vtac compile model.onnx [--shape x=1,3,224,224] [--calib DIR|FILE] -o model.vtac
    vtac run model.vtac --input img.png [--device sim|rtl|cpu] [--batch N] [--profile]
    vtac profile model.vtac [--trace t.json] [--plot p.png]

MODEL may also name a built-in model (`resnet18`, `mobilenet`, `yolo`). Errors a user can cause
are one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from runtime.accuracy import MAP_THRESHOLD
from runtime.sample_images import PREPROCESS

NORM_CHOICES = ("auto", *PREPROCESS)
NORM_HELP = (
    "image preprocessing: auto (the default: the model's own, e.g. ppocr_det for PP-OCR's "
    "detector, else imagenet), imagenet (resize + centre crop + ImageNet mean/std), unit "
    "([0, 1]), ppocr_det, ppocr_cls (PaddleOCR's)"
)

DEVICES = {"sim": "hw_sim", "hw_sim": "hw_sim", "rtl": "rtl", "cpu": "cpu"}


def _err(cmd: str, msg: object) -> int:
    print(f"vtac {cmd}: {msg}", file=sys.stderr)
    return 1


def _bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


# ----- compile --------------------------------------------------------------------------------
def _import_model(model: str, shapes: dict, image: int | None = None):
    """(float graph, source facts) of an .onnx path or a built-in model name."""
    from compiler.models import BUILTIN_MODELS, build_builtin

    if model in BUILTIN_MODELS and not Path(model).exists():
        return build_builtin(model, shapes, image), {"source": f"builtin:{model}"}
    import hashlib

    from compiler.frontend.onnx_import import import_onnx

    graph = import_onnx(model, shapes=shapes)
    digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    return graph, {"source": str(Path(model).resolve()), "source_sha256": digest}


def compile_command(args: argparse.Namespace, quiet: bool = False):
    """Compile per `args`; returns (LinkedModel, summary dict) or raises a user-facing error."""
    from compiler.driver.compile_model import compile_model
    from hw_sim.config import load_config
    from runtime.inputs import (
        InputFileError,
        load_samples,
        preprocessing_name,
        synthetic_samples,
    )

    cfg = load_config(args.config)
    if getattr(args, "requant", None):
        from compiler.graph.pipeline import requant_mode
        from hw_sim.config import ConfigError

        try:
            requant_mode(cfg, args.requant)
        except ValueError as e:
            raise ConfigError(f"--requant {args.requant}: {e}") from None
    t0 = time.perf_counter()
    graph, source = _import_model(args.model, dict(args.shape), getattr(args, "image", None))
    inputs = {n: (graph.types[n].shape, graph.types[n].dtype) for n in graph.inputs}
    from runtime.sample_images import SET_NAME, sample_set

    if args.calib == SET_NAME and not Path(args.calib).exists():
        samples = sample_set("calibration", inputs, args.model)
        calib = f"{len(samples)} {SET_NAME} calibration photos"
    elif args.calib:
        norm = preprocessing_name(args.norm, args.model, _channels(inputs))
        samples = load_samples(args.calib, inputs, norm)
        calib = f"{len(samples)} sample(s) from {args.calib}"
    else:
        samples = synthetic_samples(inputs, args.calib_count)
        calib = f"{len(samples)} synthetic sample(s)"
        if not quiet:
            print(f"warning: no --calib given: calibrating on {calib}; the int8 accuracy on real "
                  "data is then unknown", file=sys.stderr)  # fmt: skip
    bar = None

    def progress(n: int):
        nonlocal bar
        from tqdm import tqdm

        bar = tqdm(total=n, desc="compiling groups", unit="group", file=sys.stderr,
                   disable=None if not quiet else True, leave=False)  # fmt: skip
        return lambda name: (bar.set_postfix_str(name[:24]), bar.update())

    knobs_for = None
    if getattr(args, "records", None):
        from compiler.driver.model_tasks import records_knobs

        if not Path(args.records).is_file():
            raise InputFileError(f"{args.records}: no such tuning log")
        knobs_for = records_knobs(args.records, cfg)
    try:
        model = compile_model(graph, cfg, samples, fuse_accel=args.fuse_accel,
                              fuse_boundaries=not getattr(args, "no_fuse_boundaries", False),
                              bias_on=args.bias_on, keep_float_model=not args.no_float_model,
                              knobs_for=knobs_for, progress=progress,
                              meta={**source, "calibration": calib, "weight_scales":
                                    "per tensor" if getattr(args, "per_tensor", False)
                                    else "per channel"},
                              quant_options=_quant_options(args))  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    model.meta["compile_seconds"] = time.perf_counter() - t0
    if knobs_for is not None:
        model.meta["tuned"] = {"records": str(args.records), "hits": knobs_for.hits,
                               "misses": knobs_for.misses}  # fmt: skip
    return model


def _boundary_line(model) -> str:
    from compiler.graph.ref.fused import FUSED_OP
    from runtime.profile import model_crossings

    c = model_crossings(model)
    fused = sum(1 for la in model.cpu_launches() for n in la.nodes if n.op == FUSED_OP)
    return (f"  boundaries: {c.count} accelerator <-> CPU crossing(s), {_bytes(c.nbytes)}; "
            f"{fused} fused boundary kernel(s) on the CPU")  # fmt: skip


def _quant_options(args: argparse.Namespace) -> dict:
    """compile_for_accel's quantization options from the CLI (absent ones keep defaults)."""
    opts = {}
    if getattr(args, "per_tensor", False):
        opts["per_channel"] = False
    if getattr(args, "keep_float", None):
        opts["keep_float"] = list(args.keep_float)
    if getattr(args, "quant_method", None):
        opts["method"] = args.quant_method
    if getattr(args, "bias_correction", None) is not None:
        opts["bias_correction"] = args.bias_correction
    if getattr(args, "requant", None):
        opts["requant"] = args.requant
    return opts


def _summary(model, size: int | None) -> str:
    acc, cpu = model.accel_launches(), model.cpu_launches()
    macs_a = sum(la.macs for la in acc)
    macs_c = sum(la.macs for la in cpu)
    share = 100 * macs_a / max(1, macs_a + macs_c)
    fb = len(model.meta.get("fallbacks", ()))
    numpy_nodes = sum(1 for la in cpu for n in la.nodes if n.impl == "numpy")
    lines = [
        f"compiled {model.name}: {model.meta['groups']} groups -> {len(acc)} accelerator and "
        f"{len(cpu)} CPU launches; {fb} accelerator group(s) fell back to the CPU"
        + (f"; {numpy_nodes} CPU node(s) on NumPy reference kernels" if numpy_nodes else ""),
        f"  accelerator MACs {macs_a / 1e9:.3f} G of {(macs_a + macs_c) / 1e9:.3f} G "
        f"({share:.1f}%, unpadded shapes); config {model.cfg.name}",
        f"  DRAM: constants {_bytes(model.arena_offset)}, activation arena "
        f"{_bytes(model.arena_bytes)} peak vs {_bytes(model.arena_total_bytes)} without reuse",
        _boundary_line(model),
        f"  compile {model.meta['compile_seconds']:.1f} s"
        + (f", artifact {_bytes(size)}" if size is not None else ""),
    ]
    if not acc:
        lines.insert(1, "  the accelerator runs nothing of this model: everything is on the CPU")
    muls = model.meta.get("alu_mul_launches", ())
    if muls:
        lines.insert(2, f"  {len(muls)} accelerator launch(es) use the ALU's MUL (HardSwish, Mul, "
                     "fixed-point requantization; config ALU_MUL): not portable to VTA's "
                     "Chisel/HLS hardware")  # fmt: skip
    return "\n".join(lines)


def cmd_compile(args: argparse.Namespace) -> int:
    from runtime.artifact import save_artifact

    out = Path(args.output or Path(args.model).with_suffix(".vtac").name)
    if out.is_dir() or not out.parent.exists():
        return _err("compile", f"cannot write the artifact to {out}")
    try:
        model = compile_command(args)
    except _user_errors() as e:
        return _err("compile", e)
    try:
        size = save_artifact(model, out)
    except OSError as e:
        return _err("compile", f"cannot write {out}: {e.strerror or e}")
    print(_summary(model, size))
    if "tuned" in model.meta:
        t = model.meta["tuned"]
        print(f"  tuned schedules: {t['hits']} of {t['hits'] + t['misses']} accelerator operators "
              f"had a record in {t['records']} (the rest use the heuristic)")  # fmt: skip
    for f in model.meta.get("fallbacks", ()):
        print(f"  fallback: group {f['group']} ({', '.join(f['nodes'][:3])}): {f['reason']}")
    print(f"artifact written to {out}")
    return 0


def _user_errors() -> tuple:
    from compiler.frontend.onnx_import import FrontendError
    from compiler.graph.executor import ExecutionError
    from compiler.graph.ir import GraphError
    from compiler.graph.ref import KernelError
    from compiler.tune.records import RecordError
    from hw_sim.config import ConfigError
    from runtime.inputs import InputFileError

    return (FrontendError, GraphError, KernelError, ExecutionError, ConfigError, InputFileError,
            RecordError)  # fmt: skip


# ----- run / profile ----------------------------------------------------------------------------
def _feeds(model, args) -> list[dict]:
    from runtime.inputs import load_samples, preprocessing_name, synthetic_samples

    inputs = {n: (model.tensors[n].shape, model.tensors[n].dtype) for n in model.inputs}
    if args.input:
        source = model.meta.get("source", "") or model.name
        norm = preprocessing_name(args.norm, source, _channels(inputs))
        samples = [s for p in args.input for s in load_samples(p, inputs, norm)]
    else:
        samples = synthetic_samples(inputs, 1, seed=args.seed)
        print("note: no --input: running on a synthetic standard-normal input", file=sys.stderr)
    batch = max(1, args.batch)
    return [samples[i % len(samples)] for i in range(batch)]


def _channels(inputs: dict) -> int:
    """Channels of the first input when it is an image-shaped NCHW tensor (else 3)."""
    shape = next(iter(inputs.values()))[0] if inputs else ()
    return shape[1] if len(shape) == 4 else 3


def _float_reference(model, feeds: dict):
    """(outputs, what they come from): onnxruntime on the source model when it is available,
    else vtac's float CPU path on the artifact's float model."""
    import hashlib

    src = model.meta.get("source", "")
    if src and not src.startswith("builtin:") and Path(src).is_file():
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None and hashlib.sha256(Path(src).read_bytes()).hexdigest() == model.meta.get(
            "source_sha256"
        ):  # noqa: E501
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            outs = sess.run(names, feeds)
            return dict(zip(names, outs, strict=True)), "onnxruntime"
    if model.float_model is None:
        return None, "none (artifact compiled without the float model)"
    from runtime.float_executor import FloatExecutor

    return FloatExecutor(model.float_model).run(feeds).outputs, "the float model on vtac's CPU path"


def accuracy_vs_float(outputs: dict, ref: dict) -> dict:
    """Per output: relative L2 vs the float reference, and for a probability map the IoU of the
    binarized maps (`runtime.accuracy`: its relative L2 is dominated by the background)."""
    from runtime.accuracy import map_iou, rel_l2

    doc: dict = {"error_vs_float": {}, "map_iou_vs_float": {}}
    for k, v in outputs.items():
        if k in ref:
            doc["error_vs_float"][k] = rel_l2([v], [ref[k]])
            if (m := map_iou([v], [ref[k]])) is not None:
                doc["map_iou_vs_float"][k] = m
    if not doc["map_iou_vs_float"]:
        del doc["map_iou_vs_float"]
    return doc


def run_model(model, feeds_list, device: str, repeats: int, check: bool, trace: bool):
    """Co-run the first feed (with values kept for the check); returns a dict of results."""
    from tqdm import tqdm

    from runtime.executor import (
        Executor,
        compare_integer_values,
        launch_mismatches,
        reference_values,
    )
    from runtime.profile import build_profile
    from runtime.timeline import co_run_timeline, pipelined

    ex = Executor(model, device, keep_schedule=trace)
    with tqdm(total=len(model.launches), desc=f"running on {device}", unit="launch",
              file=sys.stderr, disable=None, leave=False) as bar:  # fmt: skip

        def tick(rec):
            bar.set_postfix_str(rec.name[:24])
            bar.update()

        res = ex.run(feeds_list[0], cpu_repeats=repeats, keep_values=check, on_launch=tick)
    out = {"result": res}
    if check:
        ref = reference_values(model, feeds_list[0])
        out["mismatches"] = launch_mismatches(model, res.values)
        out["end_to_end_mismatches"] = compare_integer_values(res.values, ref)
        out["int_tensors"] = sum(1 for v in res.values.values() if v.dtype.kind in "iu")
    durations = [r.time_us for r in res.launches]
    tl = co_run_timeline(model, durations)
    out["profile"] = build_profile(model, res.launches, tl)
    out["accel_sim_wall_s"] = sum(r.sim_wall_s for r in res.launches)
    if len(feeds_list) > 1:
        outs = [res.outputs] + [ex.run(f).outputs for f in feeds_list[1:]]
        makespan, _ = pipelined(model, durations, len(feeds_list))
        out["batch_outputs"] = outs
        out["pipelined_us"] = makespan
    return out


def cmd_run(args: argparse.Namespace, profile: bool = False) -> int:
    from runtime.artifact import ArtifactError, load_artifact
    from runtime.executor import InputError
    from runtime.profile import render_profile

    cmd = "profile" if profile else "run"
    try:
        expect = None
        if args.config:
            from hw_sim.config import load_config

            expect = load_config(args.config)
        model = load_artifact(args.artifact, expect)
        feeds_list = _feeds(model, args)
    except (ArtifactError, InputError, *_user_errors()) as e:
        return _err(cmd, e)
    device = DEVICES[args.device]
    doc: dict = {"model": model.name, "device": args.device, "config": model.cfg.name}
    try:
        if device == "cpu":
            return _run_float(model, feeds_list, args, doc)
        r = run_model(model, feeds_list, device, args.repeats, not args.no_check,
                      bool(args.trace))  # fmt: skip
    except InputError as e:
        return _err(cmd, e)
    res, prof = r["result"], r["profile"]
    ref, ref_name = _float_reference(model, feeds_list[0])
    doc.update(
        {
            "outputs": {k: list(v.shape) for k, v in res.outputs.items()},
            "float_reference": ref_name,
            "accel_sim_wall_s": r["accel_sim_wall_s"],
        }
    )
    if ref is not None:
        doc.update(accuracy_vs_float(res.outputs, ref))
    if "mismatches" in r:
        doc["bit_exact"] = not r["mismatches"]
        doc["mismatched_tensors"] = r["mismatches"]
        doc["end_to_end_bit_exact"] = not r["end_to_end_mismatches"]
    if "pipelined_us" in r:
        doc["batch"] = len(feeds_list)
        doc["pipelined_us"] = r["pipelined_us"]
        doc["throughput_per_s"] = len(feeds_list) / r["pipelined_us"] * 1e6
    doc.update(
        prof.to_json()
        if (profile or args.profile or args.json)
        else {
            "latency_us": {
                "sequential": prof.sequential_us,
                "overlapped": prof.timeline.overlapped_us,
            }
        }
    )
    if args.output:
        arrays = dict(res.outputs)
        for i, o in enumerate(r.get("batch_outputs", [])[1:], start=1):
            arrays.update({f"{k}_{i}": v for k, v in o.items()})
        np.savez(args.output, **arrays)
    if args.trace:
        from runtime.model_report import write_model_trace

        write_model_trace(args.trace, model, res.launches, prof)
    if args.plot:
        from runtime.model_report import plot_profile

        plot_profile(args.plot, prof, f"{model.name} on {args.device}")
    if args.json:
        print(json.dumps(doc, indent=1, default=str))
        return 0 if doc.get("bit_exact", True) else 1
    _print_run(model, res, r, doc, prof, profile or args.profile, render_profile, args)
    return 0 if doc.get("bit_exact", True) else 1


def _print_run(model, res, r, doc, prof, show_profile, render_profile, args) -> None:
    print(f"{model.name} on {args.device} ({model.cfg.name} config, {model.cfg.CLOCK_MHZ:g} MHz)")
    for k, v in res.outputs.items():
        top = f", argmax {int(np.argmax(v.reshape(v.shape[0], -1)[0]))}" if v.ndim == 2 else ""
        err = doc.get("error_vs_float", {}).get(k)
        errs = (
            f", rel. L2 error vs {doc['float_reference']}: {100 * err:.2f}%"
            if err is not None
            else ""
        )
        if m := doc.get("map_iou_vs_float", {}).get(k):
            errs += (f"; probability map > {MAP_THRESHOLD}: IoU {100 * m['iou']:.1f}% with the "
                     f"float map ({100 * m['float_above']:.1f}% of it above)")  # fmt: skip
        print(f"  output {k}: {v.dtype}{list(v.shape)}{top}{errs}")
    if "bit_exact" in doc:
        if doc["bit_exact"]:
            e2e = ("also end to end" if not r["end_to_end_mismatches"] else
                   f"end to end {len(r['end_to_end_mismatches'])} differ, downstream of float CPU "
                   "kernels that round differently from NumPy")  # fmt: skip
            print(f"  integer path: bit-exact with the int8 reference executor, launch by launch "
                  f"({r['int_tensors']} integer tensors; {e2e})")  # fmt: skip
        else:
            print(f"  integer path: MISMATCH with the int8 reference in "
                  f"{', '.join(doc['mismatched_tensors'][:5])}")  # fmt: skip
    print(f"  simulated the accelerator launches in {r['accel_sim_wall_s']:.2f} s of wall time")
    if show_profile:
        print()
        print(
            render_profile(
                prof, top=args.top, cpu_note=f"; measured on this host, median of {args.repeats}"
            )
        )
    else:
        print(
            f"  latency {prof.sequential_us / 1e3:.3f} ms sequential, "
            f"{prof.timeline.overlapped_us / 1e3:.3f} ms overlapped (--profile for the table)"
        )
    if "pipelined_us" in doc:
        print(f"  batch of {doc['batch']}: {doc['pipelined_us'] / 1e3:.3f} ms pipelined "
              f"({doc['throughput_per_s']:.1f} inferences/s; {doc['batch']} x sequential = "
              f"{doc['batch'] * prof.sequential_us / 1e3:.3f} ms)")  # fmt: skip
    for what, path in (("trace", args.trace), ("plot", args.plot), ("outputs", args.output)):
        if path:
            print(f"  {what} written to {path}")


def _run_float(model, feeds_list, args, doc) -> int:
    from compiler.cpu.runtime import set_num_threads
    from runtime.float_executor import FloatExecutor

    if model.float_model is None:
        return _err("run", "the artifact was compiled with --no-float-model; --device cpu needs it")
    if args.threads:
        set_num_threads(args.threads)
    fr = FloatExecutor(model.float_model).run(feeds_list[0], repeats=args.repeats)
    doc.update({"cpu_only_ms": fr.total_us / 1e3, "numpy_nodes": fr.numpy_nodes,
                "outputs": {k: list(v.shape) for k, v in fr.outputs.items()}})  # fmt: skip
    if args.output:
        np.savez(args.output, **fr.outputs)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{model.name} float on the CPU (LLVM kernels, {len(model.float_model.nodes)} "
          f"nodes): {fr.total_us / 1e3:.3f} ms (median of {args.repeats})")  # fmt: skip
    for node, why in fr.numpy_nodes.items():
        print(f"  {node}: NumPy reference kernel ({why})")
    return 0


# ----- demo -------------------------------------------------------------------------------------
def model_demo(args: argparse.Namespace) -> int:
    """Compile the built-in ResNet-18, co-run it on hw_sim, print the per-layer profile."""
    import tempfile

    ns = argparse.Namespace(model="resnet18", shape=[], config=args.config, calib=None,
                            calib_count=2, norm="imagenet", fuse_accel=args.fuse_accel,
                            bias_on="gemm", no_float_model=False, image=args.image)  # fmt: skip
    print(f"vtac demo: compiling the built-in ResNet-18 ({args.image}x{args.image}, random "
          "weights) for the accelerator and the CPU...", file=sys.stderr)  # fmt: skip
    try:
        model = compile_command(ns, quiet=False)
    except _user_errors() as e:
        return _err("demo", e)
    from runtime.artifact import load_artifact, save_artifact

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.save_model) if args.save_model else Path(tmp) / "resnet18.vtac"
        size = save_artifact(model, path)
        print(_summary(model, size))
        model = load_artifact(path)  # run what a board would load
    print()
    run_args = argparse.Namespace(input=None, batch=1, seed=args.seed, norm="imagenet",
                                  device="sim", repeats=3, no_check=False, trace=args.trace,
                                  plot=args.plot, output=None, json=args.json, profile=True,
                                  top=args.top, config=None, threads=None)  # fmt: skip
    feeds = _feeds(model, run_args)
    r = run_model(model, feeds, "hw_sim", 3, True, bool(args.trace))
    from runtime.profile import render_profile

    ref, ref_name = _float_reference(model, feeds[0])
    doc = {"float_reference": ref_name,
           **accuracy_vs_float(r["result"].outputs, ref),
           "bit_exact": not r["mismatches"], "mismatched_tensors": r["mismatches"],
           "end_to_end_bit_exact": not r["end_to_end_mismatches"]}  # fmt: skip
    if args.json:
        print(
            json.dumps(
                {**doc, **r["profile"].to_json(), "accel_sim_wall_s": r["accel_sim_wall_s"]},
                indent=1,
                default=str,
            )
        )  # noqa: E501
    else:
        _print_run(model, r["result"], r, doc, r["profile"], True, render_profile, run_args)
    if args.trace:
        from runtime.model_report import write_model_trace

        write_model_trace(args.trace, model, r["result"].launches, r["profile"])
    if args.plot:
        from runtime.model_report import plot_profile

        plot_profile(args.plot, r["profile"], "ResNet-18 on hw_sim")
    return 0 if doc["bit_exact"] else 1


# ----- registration -----------------------------------------------------------------------------
def _names_arg(text: str):
    from runtime.cli_inspect import _names_arg as parse

    return parse(text)


def _shape_arg(text: str):
    from runtime.cli_inspect import _parse_shape

    return _parse_shape(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    from runtime.cli_args import nonnegative_int, output_file, positive_int

    p = subparsers.add_parser(
        "compile",
        help="compile an ONNX model into one .vtac artifact",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # noqa: E501
    p.add_argument(
        "model", help="an .onnx file, or a built-in model name (resnet18, mobilenet, yolo)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=output_file,
        help="artifact path (default MODEL.vtac)",
    )
    p.add_argument("--shape", action="append", type=_shape_arg, default=[], metavar="NAME=DIMS",
                   help="static shape for an input (repeatable)")  # fmt: skip
    p.add_argument("--calib", metavar="FILE|DIR|skimage",
                   help="calibration inputs: .npy/.npz, a folder of images or arrays, or "
                   "'skimage' (scikit-image's calibration photos, preprocessed for the model; "
                   "default: synthetic, with a warning)")  # fmt: skip
    p.add_argument("--keep-float", type=_names_arg, action="extend", default=[],
                   metavar="NODE,...", help="keep these conv/dense nodes in float")  # fmt: skip
    p.add_argument(
        "--requant",
        choices=("auto", "mul", "shift"),
        help="requantization: shift (power-of-two scales), mul (fixed-point multipliers, free "
        "scales; needs a config with ALU_MUL, e.g. --config mul) or auto (the default: with "
        "ALU_MUL both, the one closer to the float outputs on the calibration inputs kept)",
    )
    p.add_argument(
        "--quant-method",
        choices=("max", "percentile", "mse", "hist_mse", "entropy", "auto"),
        help="activation calibration method (default: the pipeline's)",
    )
    p.add_argument("--bias-correction", action=argparse.BooleanOptionalAction, default=None,
                   help="fold weight rounding's mean shift into the biases (default: the "
                   "pipeline's)")  # fmt: skip
    p.add_argument("--calib-count", type=positive_int, default=2, metavar="N",
                   help="synthetic calibration inputs without --calib (default 2)")  # fmt: skip
    p.add_argument("--norm", choices=NORM_CHOICES, default="auto", help=NORM_HELP)
    p.add_argument("--config", default="default", help="hardware config name or .json path")
    p.add_argument("--fuse-accel", action="store_true",
                   help="run consecutive accelerator groups as one instruction stream")  # fmt: skip
    p.add_argument("--no-fuse-boundaries", action="store_true",
                   help="one CPU launch per boundary node (unpack, dequantize, activation, "
                        "quantize, pack), not one fused kernel per boundary")  # fmt: skip
    p.add_argument("--bias-on", choices=("gemm", "alu"), default="gemm",
                   help="which unit adds conv biases (default gemm)")  # fmt: skip
    p.add_argument("--records", metavar="LOG",
                   help="a tuning log of `vtac tune`: best known schedules")  # fmt: skip
    p.add_argument("--no-float-model", action="store_true",
                   help="leave the float model out of the artifact (no --device cpu)")  # fmt: skip
    p.add_argument("--per-tensor", action="store_true",
                   help="one weight scale per tensor instead of per output channel")  # fmt: skip
    p.set_defaults(func=cmd_compile)

    for name, helptext in (
        ("run", "run a .vtac artifact on a device"),
        ("profile", "run a .vtac artifact and print its per-layer profile"),
    ):
        p = subparsers.add_parser(name, help=helptext)
        p.add_argument("artifact", help="a .vtac file from `vtac compile`")
        p.add_argument("--input", action="append", metavar="FILE",
                       help=".npy/.npz/image (repeatable; default: a synthetic input)")  # fmt: skip
        p.add_argument(
            "--device",
            choices=("sim", "rtl", "cpu"),
            default="sim",
            help="sim (hw_sim, default), rtl (Verilated RTL) or cpu (float, LLVM)",
        )
        p.add_argument("--batch", type=positive_int, default=1, metavar="N",
                       help="run N inputs and report the pipelined throughput")  # fmt: skip
        p.add_argument(
            "-o", "--output", metavar="FILE.npz", type=output_file, help="save the outputs"
        )
        p.add_argument(
            "--trace", metavar="FILE", type=output_file, help="write a Perfetto timeline (JSON)"
        )
        p.add_argument(
            "--plot",
            metavar="FILE.png",
            type=output_file,
            help="bar chart of the per-layer profile",
        )
        p.add_argument("--repeats", type=positive_int, default=3, metavar="N",
                       help="CPU timing: median of N runs (default 3)")  # fmt: skip
        p.add_argument(
            "--threads", type=positive_int, default=None, help="CPU threads (--device cpu)"
        )
        p.add_argument(
            "--top", type=positive_int, default=None, metavar="N", help="show the N slowest layers"
        )
        p.add_argument("--no-check", action="store_true",
                       help="skip the bit-exactness check against the int8 reference")  # fmt: skip
        p.add_argument("--norm", choices=NORM_CHOICES, default="auto", help=NORM_HELP)
        p.add_argument(
            "--seed", type=nonnegative_int, default=0, help="seed of the synthetic input"
        )
        p.add_argument("--config", default=None,
                       help="refuse an artifact built for another hardware config")  # fmt: skip
        p.add_argument("--json", action="store_true", help="print the results as JSON")
        if name == "run":
            p.add_argument("--profile", action="store_true", help="print the per-layer profile")
            p.set_defaults(func=cmd_run)
        else:
            p.set_defaults(func=lambda a: cmd_run(a, profile=True), profile=True)
