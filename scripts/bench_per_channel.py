"""Per-channel vs per-tensor weight quantization: the cycle cost of the per-channel tensor SHR
and the int8 error it saves.

Three parts (`--parts`, default all):
- `layers`: ResNet-18 conv layers C2..C12 on hw_sim, each compiled with the epilogue
  `quantize_int8` + `lower_group` give a per-tensor layer (bias with the rounding folded in,
  >> 8, clip [0, 127]) and a per-channel one (bias, tensor SHR by a shift row of amounts
  8..11, clip); cycles of both, and both checked bit-exact against NumPy.
- `resnet18`: the built-in ResNet-18 compiled both ways
  (`compile_model(quant_options={"per_channel": ...})`), run on hw_sim: accelerator cycles,
  end-to-end bit-exactness against the reference executor, and the int8 output's relative L2
  error vs the float model.
- `models`: int8 relative L2 error (worst output, `scripts/model_report.py` settings: percentile
  activations, mse weights, 4 random calibration inputs, 1 more to measure) of cached real
  models, per tensor vs per channel.

    python scripts/bench_per_channel.py [--config default] [--json] [--parts layers resnet18]
        [--image 224] [--models light_resnet50 light_squeezenet ppocr_cls]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.vta.build import build  # noqa: E402
from compiler.vta.ops import conv2d_op  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.device import get_device  # noqa: E402

LAYERS = {
    "C2": (56, 64, 64, 3, 1), "C3": (56, 64, 64, 1, 1), "C4": (56, 64, 128, 3, 2),
    "C5": (56, 64, 128, 1, 2), "C6": (28, 128, 128, 3, 1), "C7": (28, 128, 256, 3, 2),
    "C8": (28, 128, 256, 1, 2), "C9": (14, 256, 256, 3, 1), "C10": (14, 256, 512, 3, 2),
    "C11": (14, 256, 512, 1, 2), "C12": (7, 512, 512, 3, 1),
}  # fmt: skip
PER_TENSOR = [("bias",), ("shr", 8), ("clip", 0, 127)]
PER_CHANNEL = [("bias",), ("shr_chan",), ("clip", 0, 127)]


def _conv_ref(x, w, b, shifts, stride, pad):
    """clip((conv(x, w) + b) >> shift[c], 0, 127) in int64 NumPy."""
    n, ci, h, _ = x.shape
    co, _, k, _ = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - k) // stride + 1
    cols = np.stack(
        [
            xp[:, :, i : i + stride * oh : stride, j : j + stride * oh : stride]
            for i in range(k)
            for j in range(k)
        ],
        axis=2,
    )  # n, ci, k*k, oh, ow
    acc = np.einsum("nckhw,ock->nohw", cols, w.reshape(co, ci, k * k).astype(np.int64))
    acc = acc + b.reshape(1, -1, 1, 1)
    return np.clip(acc >> shifts.reshape(1, -1, 1, 1), 0, 127).astype(np.int8)


def measure_layer(cfg, name: str, per_channel: bool, seed: int = 0) -> dict:
    h, ci, co, k, s = LAYERS[name]
    pad = (k - 1) // 2
    steps = PER_CHANNEL if per_channel else PER_TENSOR
    op = conv2d_op(cfg, 1, ci, h, h, co, k, s, pad, epilogue=steps, name=name)
    kern = build(op, cfg)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, ci, h, h), dtype=np.int8)
    w = rng.integers(-128, 128, (co, ci, k, k), dtype=np.int8)
    b = rng.integers(-(1 << 12), 1 << 12, co).astype(np.int32)
    shifts = rng.integers(8, 12, co).astype(np.int32) if per_channel else np.full(co, 8, np.int32)
    inputs = dict(data=x, kernel=w, bias=b)
    if per_channel:
        inputs["shift"] = shifts
    y, stats = kern.run(get_device("hw_sim", cfg), **inputs)
    ref = _conv_ref(x, w, b, shifts, s, pad)
    return {"cycles": stats.total_cycles, "alu_uops": stats.alu_uops,
            "bit_exact": bool(np.array_equal(y, ref))}  # fmt: skip


def bench_layers(cfg, names) -> list[dict]:
    rows = []
    for name in names:
        t, c = measure_layer(cfg, name, False), measure_layer(cfg, name, True)
        rows.append({"layer": name, "per_tensor_cycles": t["cycles"],
                     "per_channel_cycles": c["cycles"],
                     "overhead": c["cycles"] / t["cycles"] - 1,
                     "per_tensor_alu_uops": t["alu_uops"], "per_channel_alu_uops": c["alu_uops"],
                     "bit_exact": t["bit_exact"] and c["bit_exact"]})  # fmt: skip
        print(f"  {name}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def bench_resnet18(cfg, image: int, variants: dict | None = None) -> dict:
    """The built-in ResNet-18 compiled once per variant (label -> `quant_options`; default per
    tensor vs per channel) and co-run on hw_sim: cycles, launches, int8 error, bit-exactness;
    `cycle_overhead` of the second variant over the first."""
    from compiler.driver.compile_model import compile_model
    from compiler.graph.executor import run_graph
    from compiler.models import resnet18
    from runtime.accuracy import rel_l2
    from runtime.executor import Executor, compare_integer_values, reference_values
    from runtime.profile import build_profile
    from runtime.timeline import co_run_timeline

    variants = variants or {"per_tensor": {"per_channel": False}, "per_channel": {}}
    g = resnet18(seed=0, image=image)
    rng = np.random.default_rng(0)
    calib = [{"input": rng.standard_normal((1, 3, image, image)).astype(np.float32)}
             for _ in range(2)]  # fmt: skip
    feed = {"input": rng.standard_normal((1, 3, image, image)).astype(np.float32)}
    want = run_graph(g, feed)
    out = {}
    for label, options in variants.items():
        model = compile_model(g, cfg, calib, quant_options=options)
        res = Executor(model, "hw_sim").run(feed, keep_values=True)
        mism = compare_integer_values(res.values, reference_values(model, feed))
        prof = build_profile(
            model, res.launches, co_run_timeline(model, [r.time_us for r in res.launches])
        )
        name = model.outputs[0]
        out[label] = {"accel_cycles": prof.accel_cycles,
                      "accel_launches": len(model.accel_launches()),
                      "fallbacks": len(model.meta["fallbacks"]),
                      "int8_rel_l2": rel_l2(res.outputs[name], want[name]),
                      "end_to_end_bit_exact": not mism}  # fmt: skip
        print(f"  resnet18 {label}: {out[label]}", file=sys.stderr, flush=True)
    first, second = list(variants)[:2]
    out["cycle_overhead"] = out[second]["accel_cycles"] / out[first]["accel_cycles"] - 1
    out["image"] = image
    return out


def bench_models(cfg, names) -> list[dict]:
    from compiler.frontend.onnx_import import default_opset, import_onnx, load_model, upgrade_opset
    from compiler.graph.pipeline import compile_for_accel
    from compiler.graph.quant.report import quantization_error
    from tests.graph.real_models import INPUT_SHAPES, cached_models, comparison_points, model_inputs

    rows = []
    paths = {p.stem: p for p in cached_models()}
    for name in names:
        if name not in paths:
            print(f"  {name}: not in the model cache, skipped", file=sys.stderr)
            continue
        model, _ = load_model(paths[name])
        if default_opset(model) < 11:
            model = upgrade_opset(model)
        graph = import_onnx(model, shapes=INPUT_SHAPES.get(name, {}))
        rng = np.random.default_rng(0)
        model_inputs(graph, rng)  # as model_report: the first draw feeds its reference check
        data = [model_inputs(graph, rng) for _ in range(5)]
        row = {"model": name}
        for label, per_channel in (("per_tensor", False), ("per_channel", True)):
            r = compile_for_accel(graph, cfg, data[:4], weight_method="mse",
                                  per_channel=per_channel)  # fmt: skip
            points = [p for p in comparison_points(r.float_graph) if p not in graph.outputs]
            errs = quantization_error(
                r.float_graph, r.graph, data[4:], points or list(graph.outputs)
            )
            row[label] = max(e.rel_l2 for e in errs)
            row[f"{label}_top1"] = errs[0].top1_agreement
        print(f"  {row}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="default")
    p.add_argument("--parts", nargs="+", default=["layers", "resnet18", "models"],
                   choices=["layers", "resnet18", "models"])  # fmt: skip
    p.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    p.add_argument("--image", type=int, default=224, help="ResNet-18 input size")
    p.add_argument("--models", nargs="+",
                   default=["light_resnet50", "light_squeezenet", "ppocr_cls"])  # fmt: skip
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    out: dict = {"host": platform.processor() or platform.machine(), "config": cfg.name}
    if "layers" in args.parts:
        out["layers"] = bench_layers(cfg, args.layers)
    if "resnet18" in args.parts:
        out["resnet18"] = bench_resnet18(cfg, args.image)
    if "models" in args.parts:
        out["models"] = bench_models(cfg, args.models)
    ok = all(r["bit_exact"] for r in out.get("layers", []))
    ok = ok and all(out.get("resnet18", {}).get(k, {}).get("end_to_end_bit_exact", True)
                    for k in ("per_tensor", "per_channel"))  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for r in out.get("layers", []):
            print(f"{r['layer']}: {r['per_tensor_cycles']} -> {r['per_channel_cycles']} cycles "
                  f"({100 * r['overhead']:+.1f}%)")  # fmt: skip
        if "resnet18" in out:
            print("resnet18:", out["resnet18"])
        for r in out.get("models", []):
            print(r)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
