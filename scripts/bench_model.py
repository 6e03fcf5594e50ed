"""Whole-model benchmark: compile, co-run on hw_sim, CPU-only baseline, onnxruntime.

    .venv/bin/python scripts/bench_model.py [--image 224] [--config default] [--json]
    .venv/bin/python scripts/bench_model.py --zoo          # + the models of fetch_models.py

For the built-in ResNet-18 (random weights; exported to ONNX for onnxruntime) it measures:
compile_s (the whole `vtac compile` pipeline, in process), accel_sim_wall_s (wall time to
simulate every accelerator launch on hw_sim), accel_cycles and accel_utilization (the layers'
own GEMM micro-ops per cycle), latency_us (sequential and with CPU/accelerator overlap; the
accelerator at the config clock plus the per-launch overhead, the CPU part measured here),
the same with merged accelerator streams (`--fuse-accel`), cpu_only_ms (the float model on
vtac's LLVM kernels, one thread, `--device cpu`), ort_ms (onnxruntime, one thread, same model),
speed_vs_ort_1t = ort_ms / cpu_only_ms, bit_exact (every integer tensor each launch wrote equals
the int8 reference kernels' result on that launch's inputs; `end_to_end_bit_exact`: equal to a
reference run of the whole quantized graph) and the output error vs onnxruntime's float result.
Timings are medians of `--repeats` runs after a warm-up; the host CPU is printed with them.
`--zoo` adds one row per cached real model: error vs onnxruntime, accelerated share, fallbacks,
latency and the CPU share of it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.cpu.runtime import set_num_threads  # noqa: E402
from compiler.driver.compile_model import compile_model  # noqa: E402
from compiler.frontend.onnx_import import export_onnx, import_onnx  # noqa: E402
from compiler.models import resnet18  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.accuracy import rel_l2  # noqa: E402
from runtime.executor import (  # noqa: E402
    Executor,
    compare_integer_values,
    launch_mismatches,
    reference_values,
)
from runtime.float_executor import FloatExecutor  # noqa: E402
from runtime.profile import build_profile  # noqa: E402
from runtime.timeline import co_run_timeline, pipelined  # noqa: E402


def host_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "SSE"
                return f"{line.split(':', 1)[1].strip()} ({isa})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ort_time(path: Path, feed: dict, repeats: int) -> tuple[float, dict]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feed)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    names = [o.name for o in sess.get_outputs()]
    return statistics.median(times) * 1e3, dict(zip(names, outs, strict=True))


def corun(model, feed, repeats: int) -> dict:
    ex = Executor(model, "hw_sim")
    res = ex.run(feed, cpu_repeats=repeats, keep_values=True)
    ref = reference_values(model, feed)
    bad = launch_mismatches(model, res.values)
    e2e = compare_integer_values(res.values, ref)
    durations = [r.time_us for r in res.launches]
    tl = co_run_timeline(model, durations)
    prof = build_profile(model, res.launches, tl)
    return {"result": res, "profile": prof, "bit_exact": not bad, "mismatches": bad,
            "end_to_end_bit_exact": not e2e,
            "accel_sim_wall_s": sum(r.sim_wall_s for r in res.launches),
            "pipelined_4_us": pipelined(model, durations, 4)[0]}  # fmt: skip


def bench_resnet(args) -> dict:
    cfg = load_config(args.config)
    g = resnet18(seed=0, image=args.image)
    rng = np.random.default_rng(0)
    calib = [{"input": rng.standard_normal((1, 3, args.image, args.image)).astype(np.float32)}
             for _ in range(2)]  # fmt: skip
    feed = {"input": rng.standard_normal((1, 3, args.image, args.image)).astype(np.float32)}
    t0 = time.perf_counter()
    model = compile_model(g, cfg, calib)
    compile_s = time.perf_counter() - t0
    run = corun(model, feed, args.repeats)
    prof = run["profile"]
    fused = compile_model(g, cfg, calib, fuse_accel=True)
    frun = corun(fused, feed, args.repeats)
    set_num_threads(1)
    fr = FloatExecutor(model.float_model).run(feed, repeats=args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet18.onnx"
        export_onnx(g, path)
        ort_ms, ort_out = ort_time(path, feed, args.repeats)
    out_name = model.outputs[0]
    return {
        "host": host_cpu(), "config": cfg.name, "model": f"resnet18 {args.image}x{args.image}",
        "compile_s": compile_s,
        "accel_sim_wall_s": run["accel_sim_wall_s"],
        "accel_cycles": prof.accel_cycles,
        "accel_utilization": prof.accel_utilization,
        "latency_us": {"sequential": prof.sequential_us, "overlapped": prof.timeline.overlapped_us},
        "pipelined_4_images_us": run["pipelined_4_us"],
        "accel_us": prof.accel_us, "cpu_us": prof.cpu_us, "boundary_us": prof.boundary_us,
        "launch_overhead_us": prof.overhead_us, "amdahl_bound": prof.amdahl_bound,
        "accel_launches": len(model.accel_launches()), "cpu_launches": len(model.cpu_launches()),
        "arena_peak_bytes": model.arena_bytes, "arena_total_bytes": model.arena_total_bytes,
        "fused": {
            "accel_launches": len(fused.accel_launches()),
            "accel_cycles": frun["profile"].accel_cycles,
            "latency_us": frun["profile"].sequential_us,
            "cycles_saved": prof.accel_cycles - frun["profile"].accel_cycles,
            "latency_saved_us": prof.sequential_us - frun["profile"].sequential_us,
            "bit_exact": frun["bit_exact"],
        },
        "cpu_only_ms": fr.total_us / 1e3,
        "cpu_only_numpy_nodes": len(fr.numpy_nodes),
        "ort_ms": ort_ms,
        "speed_vs_ort_1t": ort_ms / (fr.total_us / 1e3),
        "cpu_only_error_vs_ort": rel_l2(fr.outputs[out_name], ort_out[out_name]),
        "int8_error_vs_ort": rel_l2(run["result"].outputs[out_name], ort_out[out_name]),
        "bit_exact": run["bit_exact"],
        "end_to_end_bit_exact": run["end_to_end_bit_exact"],
    }  # fmt: skip


def judged_values(g) -> dict[str, str]:
    """output -> the value its error is judged on: the logits under a final Softmax/Sigmoid
    (the light models' generated weights saturate their softmax: one-hot outputs compare equal
    whatever the logits do), else the output itself."""
    producers = g.producers()
    out = {}
    for name in g.outputs:
        node = producers.get(name)
        while node is not None and node.op in ("Reshape", "Flatten", "Identity"):
            node = producers.get(node.inputs[0])
        final = node is not None and node.op in ("Softmax", "Sigmoid")
        out[name] = node.inputs[0] if final else name
    return out


def ort_values(path: Path, names: list[str], feed: dict) -> dict:
    """onnxruntime's values of `names` (graph outputs added where needed), one thread."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(path))
    have = {o.name for o in m.graph.output}
    produced = {o for node in m.graph.node for o in node.output}
    for n in names:
        if n not in produced:
            raise KeyError(n)
        if n not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    outs = sess.run(names, feed)
    return dict(zip(names, outs, strict=True))


ZOO_SHAPES = {"ppocr_det": {"x": (1, 3, 320, 320)}, "ppocr_cls": {"x": (1, 3, 48, 192)}}


def bench_zoo(args) -> list[dict]:
    cache = Path.home() / ".cache" / "vtac" / "models"
    rows = []
    cfg = load_config(args.config)
    for path in sorted(cache.glob("light/*.onnx")) + sorted(cache.glob("ppocr/*.onnx")):
        name = path.stem
        t0 = time.perf_counter()
        g = import_onnx(path, shapes=ZOO_SHAPES.get(name, {}))
        inputs = {n: (g.types[n].shape, g.types[n].dtype) for n in g.inputs}
        rng = np.random.default_rng(1)
        # image-like inputs in [0, 1), as scripts/model_report.py uses
        calib = [
            {n: rng.uniform(0, 1, s).astype(d) for n, (s, d) in inputs.items()} for _ in range(2)
        ]  # noqa: E501
        feed = {n: rng.uniform(0, 1, s).astype(d) for n, (s, d) in inputs.items()}
        model = compile_model(g, cfg, calib)
        compile_s = time.perf_counter() - t0
        run = corun(model, feed, 1)
        prof = run["profile"]
        points = judged_values(g)
        try:
            ort_out = ort_values(path, list(points.values()), feed)
        except KeyError:  # the logits value has no ONNX name (a pass renamed it)
            points = {k: k for k in points}
            ort_out = ort_values(path, list(points.values()), feed)
        got = {**run["result"].values, **run["result"].outputs}
        errs = {k: rel_l2(got[v], ort_out[v]) for k, v in points.items()}
        fb = model.meta["fallbacks"]
        cpu_share = (prof.cpu_us + prof.boundary_us) / prof.sequential_us
        rows.append({
            "name": name, "error_vs_ort": max(errs.values()), "judged_on": points,
            "bit_exact": run["bit_exact"], "end_to_end_bit_exact": run["end_to_end_bit_exact"],
            "accel_share_macs": prof.accel_macs / max(1, prof.accel_macs + prof.cpu_macs),
            "accel_launches": len(model.accel_launches()),
            "cpu_launches": len(model.cpu_launches()),
            "fallback_groups": len(fb), "numpy_nodes": len(prof.numpy_nodes),
            "latency_ms": prof.sequential_us / 1e3, "cpu_share": cpu_share,
            "accel_cycles": prof.accel_cycles, "compile_s": compile_s,
            "accel_sim_wall_s": run["accel_sim_wall_s"],
        })  # fmt: skip
        print(f"{name}: {rows[-1]}", file=sys.stderr)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--zoo", action="store_true", help="also the models of fetch_models.py")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    doc = bench_resnet(args)
    if args.zoo:
        doc["zoo"] = bench_zoo(args)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    for k, v in doc.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
