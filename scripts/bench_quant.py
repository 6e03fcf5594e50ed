"""vtac's int8 error next to onnxruntime's int8 quantization of the same models, on real photos.

For every model in the `scripts/fetch_models.py` cache plus the built-in ResNet-18 (random
weights): calibrate on the skimage calibration photographs and measure on the disjoint
evaluation photographs (`runtime/sample_images.py`, each model's preprocessing), in one run:
- vtac: `compile_for_accel` (optimize, calibrate, quantize, partition, pack, fuse) and the
  graph's int8 reference executor on the compiled graph (bit-exact with hw_sim and the RTL),
  against the float graph;
- onnxruntime: `quantize_static` (QDQ, per-channel int8 weights, int8 activations) with
  MinMax and with Entropy calibration (its defaults, and with TensorRT's 2048 histogram bins)
  on the same calibration photographs, run by onnxruntime, against onnxruntime's float run of
  the same model; its error is the best of these (2048 bins only with --ort-entropy-2048).
Error = relative L2 ||q - f|| / ||f|| over all evaluation images, per compared value (the
outputs, and the logits before a final Softmax/Sigmoid); a model's error is its worst value's.
Top-1 agreement: the share of images whose argmax of the first classifier output agrees.

    .venv/bin/python scripts/bench_quant.py [--json] [--only NAME] [--method auto]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.frontend.onnx_import import (  # noqa: E402
    default_opset,
    export_onnx,
    import_onnx,
    load_model,
    upgrade_opset,
)
from compiler.graph.executor import run_graph  # noqa: E402
from compiler.graph.pipeline import compile_for_accel, requant_mode  # noqa: E402
from compiler.graph.quant.layer_report import layer_errors  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.accuracy import is_classifier, map_iou, rel_l2, top1_agreement  # noqa: E402
from runtime.sample_images import preprocess_for, sample_set  # noqa: E402
from tests.graph.real_models import (  # noqa: E402
    INPUT_SHAPES,
    KEEP_FLOAT,
    cached_models,
    comparison_points,
)


def _with_outputs(model, names: list[str]):
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    # Old exporters list initializers as graph inputs too: onnxruntime then treats the weights
    # as overridable inputs, and its quantizer cannot quantize them. Make them constants.
    inits = {i.name for i in m.graph.initializer}
    keep = [i for i in m.graph.input if i.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    # ...and some leave initializers no node reads, which onnxruntime then refuses to load.
    read = {v for node in m.graph.node for v in node.input} | {o.name for o in m.graph.output}
    used = [i for i in m.graph.initializer if i.name in read]
    del m.graph.initializer[:]
    m.graph.initializer.extend(used)
    for i, node in enumerate(m.graph.node):  # the quantizer's exclusions go by node name
        if not node.name:
            node.name = f"node{i}_{node.op_type}"
    existing = {o.name for o in m.graph.output}
    for n in names:
        if n not in existing:
            m.graph.output.append(onnx.ValueInfoProto(name=n))
    return m


def _final_activations(m) -> list[str]:
    """Names of the Softmax/Sigmoid nodes that produce a graph output (through reshapes)."""
    producer = {o: n for n in m.graph.node for o in n.output}
    found = []
    for out in m.graph.output:
        node = producer.get(out.name)
        while node is not None and node.op_type in ("Reshape", "Flatten", "Identity", "Squeeze"):
            node = producer.get(node.input[0])
        if node is not None and node.op_type in ("Softmax", "Sigmoid"):
            found.append(node.name)
    return found


def _ort_session(path_or_bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(path_or_bytes, opts, providers=["CPUExecutionProvider"])


# onnxruntime's Entropy calibration defaults to a 128-bin histogram and 128 quantized bins: a
# single candidate threshold, so it returns MinMax's ranges. `entropy_2048` runs its Entropy
# calibrator with TensorRT's 2048 bins (`quantize_static` does not expose the bin counts; the
# ranges reach it through its calibration cache).
ENTROPY_2048 = {"num_bins": 2048, "num_quantized_bins": 128}


def _ort_ranges(fp32: Path, method, options: dict, reader, cache: Path, tmp: Path) -> None:
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    cal = create_calibrator(fp32, None, augmented_model_path=str(tmp / "augmented.onnx"),
                            calibrate_method=method, extra_options=options)  # fmt: skip
    cal.collect_data(reader)
    save_tensors_data(cal.compute_data(), cache)


def ort_errors(model, points: list[str], calib, evals, tmp: Path, entropy_2048=False) -> dict:
    """onnxruntime's int8 (QDQ, per-channel) error per calibration method vs its float run."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    fp32 = tmp / "fp32.onnx"
    m = _with_outputs(model, points)
    onnx.save(m, fp32)
    # Like vtac, leave a final Softmax/Sigmoid in float: quantizing probabilities of 1e-3 to
    # int8 would measure that choice, not the quantization of the network's layers.
    final = _final_activations(m)
    try:
        sess = _ort_session(str(fp32))
    except Exception as e:  # the float model itself does not load: nothing to compare
        return {"float": {"error": f"{type(e).__name__}: {str(e)[:200]}"}}
    want = {p: [] for p in points}
    for feeds in evals:
        out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
        for p in points:
            want[p].append(out[p])
    result = {}
    variants = (("minmax", CalibrationMethod.MinMax, None),
                ("entropy", CalibrationMethod.Entropy, None),
                ("entropy_2048", CalibrationMethod.Entropy, ENTROPY_2048))  # fmt: skip
    variants = variants if entropy_2048 else variants[:2]
    for name, cm, calib_options in variants:
        q = tmp / f"int8_{name}.onnx"
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its progress prints
                cache = None
                if calib_options:  # ranges computed here, handed over as a calibration cache
                    cache = tmp / f"ranges_{name}.json"
                    _ort_ranges(fp32, cm, calib_options, Reader(calib), cache, tmp)
                quantize_static(str(fp32), str(q), Reader(calib), quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QInt8,
                                weight_type=QuantType.QInt8, calibrate_method=cm,
                                nodes_to_exclude=final, calibration_cache_path=cache)  # fmt: skip
            qs = _ort_session(str(q))
        except Exception as e:  # report the failure of one method, keep the other
            result[name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            continue
        got = {p: [] for p in points}
        for feeds in evals:
            out = dict(zip([o.name for o in qs.get_outputs()], qs.run(None, feeds), strict=True))
            for p in points:
                got[p].append(out[p])
        per = {p: rel_l2(got[p], want[p]) for p in points}
        cls = [p for p in points if is_classifier(want[p][0])]
        top1 = top1_agreement(got[cls[0]], want[cls[0]]) if cls else None
        maps = {p: m for p in points if (m := map_iou(got[p], want[p])) is not None}
        result[name] = {"rel_l2": per, "worst": max(per.values()), "top1_agreement": top1,
                        "map_iou": maps}  # fmt: skip
    return result


def _float_mac_share(res) -> float:
    """Share of the conv/dense MACs (unpadded, per inference) in layers kept float."""
    g = res.calibration.source_graph
    by_name = {n.name: n for n in g.nodes}

    def macs(name: str) -> int:
        node = by_name[name]
        w = g.constants.get(node.inputs[1])
        if w is None:
            return 0
        out = g.types[node.outputs[0]].shape
        return int(w.size * (np.prod(out[2:]) if node.op == "Conv" else 1))

    quantized = sum(macs(layer.anchor) for layer in res.plan.layers)
    kept = sum(macs(n) for n in res.plan.kept_float if n in by_name)
    return kept / (quantized + kept) if quantized + kept else 0.0


def vtac_errors(graph, cfg, calib, evals, method: str, bias_correction: bool, report: int,
                **options):  # fmt: skip
    """vtac's int8 error per value (int8 reference executor on the compiled graph)."""
    t0 = time.perf_counter()
    res = compile_for_accel(graph, cfg, calib, method=method, bias_correction=bias_correction,
                            **options)  # fmt: skip
    compile_s = time.perf_counter() - t0
    points = [p for p in comparison_points(res.float_graph)]
    want = {p: [] for p in points}
    got = {p: [] for p in points}
    for feeds in evals:
        f = run_graph(res.float_graph, feeds, keep_all=True)
        q = run_graph(res.graph, feeds, keep_all=True)
        for p in points:
            want[p].append(f[p])
            got[p].append(q[p])
    per = {p: rel_l2(got[p], want[p]) for p in points}
    maps = {p: m for p in points if (m := map_iou(got[p], want[p])) is not None}
    cls = [p for p in points if is_classifier(want[p][0])]
    worst_layers = []
    if report and res.plan.layers:
        info = res.calibration
        rows = layer_errors(info.source_graph, info.quant_graph, res.plan, evals[:2], info.chosen,
                            info.bias_shift)  # fmt: skip
        worst_layers = [{"layer": r.anchor, "sqnr_db": round(r.sqnr_db, 2), "rel_l2": r.rel_l2,
                         "weights_rel_l2": r.weight_rel_l2,
                         "calibration": f"{r.method_in}/{r.method_out}"}
                        for r in rows[:report]]  # fmt: skip
    methods: dict[str, int] = {}
    for m in res.calibration.chosen.values():
        methods[m] = methods.get(m, 0) + 1
    return {
        "rel_l2": per,
        "worst": max(per.values()),
        "top1_agreement": top1_agreement(got[cls[0]], want[cls[0]]) if cls else None,
        "map_iou": maps,
        "int8_layers": len(res.plan.layers),
        "float_layers": len(res.plan.kept_float),
        "kept_float": dict(list(res.plan.kept_float.items())[:5]),
        "float_mac_share": _float_mac_share(res),
        "methods_chosen": methods,
        "equalize": {k: v for k, v in res.calibration.equalize.items() if k != "layers"},
        "requant": res.calibration.requant,
        "worst_layers": worst_layers,
        "compile_s": compile_s,
    }, points


def load(name_or_path: str | Path):
    """(ONNX model, float graph, model name) of a cached model path or `resnet18`."""
    if str(name_or_path) == "resnet18":
        from compiler.models import BUILTIN_MODELS

        graph = BUILTIN_MODELS["resnet18"]()
        with tempfile.TemporaryDirectory() as tmp:
            export_onnx(graph, Path(tmp) / "r18.onnx")
            model, _ = load_model(Path(tmp) / "r18.onnx")
        return model, graph, "resnet18"
    path = Path(name_or_path)
    model, _ = load_model(path)
    if default_opset(model) < 11:
        model = upgrade_opset(model)
    return model, import_onnx(model, shapes=INPUT_SHAPES.get(path.stem, {})), path.stem


def measure(name_or_path, cfg, method="auto", bias_correction=True, calib_count=None,
            eval_count=None, report=5, ort=True, entropy_2048=False,
            **options) -> dict:  # fmt: skip
    model, graph, name = load(name_or_path)
    inputs = {n: (graph.types[n].shape, graph.types[n].dtype) for n in graph.inputs}
    calib = sample_set("calibration", inputs, name)[:calib_count]
    evals = sample_set("evaluation", inputs, name)[:eval_count]
    keep = KEEP_FLOAT.get(name, ())  # layers the benchmarks keep float, with why
    vt, points = vtac_errors(graph, cfg, calib, evals, method, bias_correction, report,
                             keep_float=keep, **options)  # fmt: skip
    pre = preprocess_for(name, inputs[graph.inputs[0]][0][1]).name
    row = {"name": name, "preprocess": pre, "calib_images": len(calib),
           "eval_images": len(evals), "points": points, "vtac_error": vt["worst"],
           "top1_agreement": vt["top1_agreement"], "vtac": vt}  # fmt: skip
    if ort:
        with tempfile.TemporaryDirectory() as tmp:
            o = ort_errors(model, points, calib, evals, Path(tmp), entropy_2048)
        ok = [v for v in o.values() if "worst" in v]
        best = min(ok, key=lambda v: v["worst"]) if ok else None
        row.update({"ort_error": best["worst"] if best else None,
                    "ort_top1_agreement": best["top1_agreement"] if best else None,
                    "ort": o})  # fmt: skip
        row["vtac_le_ort"] = best is not None and vt["worst"] <= best["worst"]
    row["within_5pct"] = vt["worst"] <= 0.05
    return row


def reuse_ort(row: dict, saved: dict[str, dict], source: str) -> dict:
    """Fill `row`'s onnxruntime figures from a saved document's row of the same model, images
    and compared values (onnxruntime's quantizer does not depend on vtac: same photos, same
    settings, same figures); rows that do not match are left without them."""
    old = saved.get(row["name"])
    same = old is not None and all(old.get(k) == row[k] for k in
                                   ("calib_images", "eval_images", "points"))  # fmt: skip
    if not same or old.get("ort_error") is None:
        return row
    row.update({k: old[k] for k in ("ort_error", "ort_top1_agreement", "ort")})
    row["ort_from"] = source
    row["vtac_le_ort"] = row["vtac_error"] <= row["ort_error"]
    return row


EQUALIZE = {"off": False, "on": True, "auto": "auto"}


def _document(cfg, args, rows: list[dict]) -> dict:
    import platform

    return {
        "config": cfg.name,
        "requant": requant_mode(cfg, None if args.requant == "auto" else args.requant),
        "method": args.method,
        "bias_correction": not args.no_bias_correction,
        "equalize": args.equalize,
        "float_squeeze_excite": not args.int8_squeeze_excite,
        "weight_rounding": args.weight_rounding,
        "free_activations": requant_mode(cfg, None if args.requant == "auto" else args.requant)
        != "shift"
        and not args.pow2_activations,
        "free_concats": args.free_concats,
        "vtac_int8_executor": "compiler/graph/ref int8 reference executor on the compiled graph "
        "(bit-exact with hw_sim)",
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "models": rows,
        "worst_vtac_error": max(r["vtac_error"] for r in rows),
    }


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _top1_text(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def markdown_table(docs: list[dict]) -> str:
    """The docs table of one or more --json documents (models in the order given)."""
    lines = [
        "| model | preprocessing | int8 layers (float) | vtac rel. L2 (worst output) | "
        "onnxruntime MinMax | onnxruntime Entropy | top-1 vtac / ort | vtac <= ort | <= 5% |",
        "|---|---|---:|---:|---:|---:|---:|:-:|:-:|",
    ]
    for doc in docs:
        for r in doc["models"]:
            ort = r.get("ort", {})
            lines.append(
                f"| {r['name']} | {r['preprocess']} | {r['vtac']['int8_layers']} "
                f"({r['vtac']['float_layers']}) | {_pct(r['vtac_error'])} | "
                f"{_pct(ort.get('minmax', {}).get('worst'))} | "
                f"{_pct(ort.get('entropy', {}).get('worst'))} | "
                f"{_top1_text(r['top1_agreement'])} / {_top1_text(r.get('ort_top1_agreement'))} | "
                f"{'yes' if r.get('vtac_le_ort') else 'no'} | "
                f"{'yes' if r['within_5pct'] else 'no'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--config", default="default", help="hardware config (e.g. 'mul': the ALU has MUL)"
    )
    parser.add_argument(
        "--requant",
        choices=("auto", "mul", "shift"),
        default="auto",
        help="requantization: fixed-point multipliers with free per-channel weight scales "
        "(mul, needs a config with ALU_MUL), power-of-two shifts (shift), or the compiler's "
        "default (auto: with ALU_MUL both, the one closer to the float outputs on the "
        "calibration photos kept; else shift)",
    )
    parser.add_argument(
        "--only", default="", help="only models whose name contains this (comma-separated: any of)"
    )
    parser.add_argument(
        "--out", metavar="FILE", help="also write the JSON document here, updated after every model"
    )
    parser.add_argument("--method", default="auto", help="vtac activation calibration method")
    parser.add_argument("--no-bias-correction", action="store_true")
    parser.add_argument(
        "--equalize",
        choices=("off", "on", "auto"),
        default="auto",
        help="depthwise input equalization: auto (the compiler's default: both ways, the one "
        "closer to the float outputs on the calibration photos kept), on or off",
    )
    parser.add_argument(
        "--int8-squeeze-excite",
        action="store_true",
        help="quantize squeeze-excite gate convs too (ablation; default keeps them float)",
    )
    parser.add_argument(
        "--weight-rounding",
        default="nearest",
        choices=("gptq", "nearest"),
        help="vtac int8 weight rounding (round to nearest, the compiler's default, or GPTQ)",
    )
    parser.add_argument(
        "--pow2-activations",
        action="store_true",
        help="with requant=mul: keep every activation scale a power of two (only the weight "
        "scales free; ablation)",
    )
    parser.add_argument(
        "--free-concats",
        action="store_true",
        help="with requant=mul: one free scale for a concat's inputs (opt-in; ablation)",
    )
    parser.add_argument("--calib", type=int, default=None, help="at most N calibration images")
    parser.add_argument("--eval", type=int, default=None, help="at most N evaluation images")
    parser.add_argument("--no-ort", action="store_true", help="skip onnxruntime's quantizer")
    parser.add_argument(
        "--ort-from",
        nargs="+",
        metavar="JSON",
        help="take onnxruntime's figures from saved documents (same model, images and values) "
        "instead of running its quantizer again",
    )
    parser.add_argument(
        "--ort-entropy-2048",
        action="store_true",
        help="also onnxruntime's Entropy with 2048 bins (slow: minutes per model)",
    )
    parser.add_argument(
        "--table",
        nargs="+",
        metavar="JSON",
        help="print the Markdown table of saved --json/--out documents and exit",
    )
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table([json.loads(Path(f).read_text()) for f in args.table]))
        return 0
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization's advice
    wanted = args.only.split(",")
    models = [m for m in [*cached_models(), "resnet18"]
              if any(w in Path(str(m)).stem for w in wanted)]  # fmt: skip
    if not models:
        print("no model matches (run scripts/fetch_models.py)", file=sys.stderr)
        return 1
    cfg = load_config(args.config)
    saved = {}
    for f in args.ort_from or ():
        saved.update({r["name"]: r for r in json.loads(Path(f).read_text())["models"]})
    rows = []
    pow2 = {"free_activations": False} if args.pow2_activations else {}
    if args.free_concats:
        pow2["free_concats"] = True
    bar = tqdm(models, desc="bench_quant", unit="model", file=sys.stderr)
    for m in bar:
        bar.set_postfix_str(Path(str(m)).stem)
        rows.append(measure(m, cfg, args.method, not args.no_bias_correction, args.calib,
                            args.eval, ort=not (args.no_ort or saved),
                            entropy_2048=args.ort_entropy_2048, equalize=EQUALIZE[args.equalize],
                            float_squeeze_excite=not args.int8_squeeze_excite,
                            weight_rounding=args.weight_rounding,
                            requant=None if args.requant == "auto" else args.requant,
                            **pow2))  # fmt: skip
        r = reuse_ort(rows[-1], saved, ", ".join(args.ort_from or ()))
        doc = _document(cfg, args, rows)
        if args.out:
            Path(args.out).write_text(json.dumps(doc, indent=1, default=float) + "\n")
        ort_e = "-" if r.get("ort_error") is None else f"{100 * r['ort_error']:.2f}%"
        top1 = "-" if r["top1_agreement"] is None else f"{100 * r['top1_agreement']:.0f}%"
        tqdm.write(f"{r['name']}: vtac {100 * r['vtac_error']:.2f}%  onnxruntime {ort_e}  "
                   f"top-1 {top1}", file=sys.stderr if args.json else sys.stdout)  # fmt: skip
    if args.json:
        print(json.dumps(doc, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
