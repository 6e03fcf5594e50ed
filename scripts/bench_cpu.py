"""vtac's CPU path vs onnxruntime (CPU provider), side by side in one run.

Workloads: the ResNet-18 conv layers C1-C12 (float32, batch 1; docs: ../shared workloads),
dense 1024x1024x1024, and a ResNet-18-sized chain of layers (see `bench_cpu_chain.py` beside
this file). Both systems run with 1 and with 2 threads; runs alternate between the systems
(the second core is often busy with other work) and every figure is the median over runs.

What is timed, per system:
- vtac conv "kernel": the NCHWc kernel on packed, padded input with packed weights (layout
  transforms amortized, as inside a network kept in NCHWc); "with layout": NCHW in -> pack ->
  kernel -> unpack -> NCHW out (three stages of one kernel), like a stand-alone ONNX Conv;
- onnxruntime: `run_with_iobinding` of a one-node ONNX model (Conv / MatMul with constant
  weights) with the input and a preallocated output bound once (as vtac writes into a
  preallocated output), which includes its internal layout transforms and the call overhead.
- dense: vtac's kernel with weights packed once (as onnxruntime prepacks constant weights).

Usage: python scripts/bench_cpu.py [--json] [--runs N] [--only C2,C6,dense,chain]
`--json` prints one JSON object with `geomean_speed_vs_ort_1t`, `geomean_speed_vs_ort_2t`
(vtac speed / onnxruntime speed, geometric mean over the conv layers, like for like: NCHW in and
out, both into preallocated outputs), `geomean_kernel_only_vs_ort_*` (vtac's kernel on data
already in its layout) and `ops`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.cpu import layout, ops  # noqa: E402
from compiler.cpu.conv2d import Conv2dShape, default_knobs  # noqa: E402
from compiler.cpu.conv2d_fused import conv2d_nchw_fused  # noqa: E402
from compiler.cpu.dense import default_dense_knobs, dense, pack_dense_weight  # noqa: E402
from compiler.cpu.runtime import set_num_threads  # noqa: E402
from compiler.llvm import host, vector_lanes, vector_registers  # noqa: E402

# name: (H = W, in channels, out channels, kernel, stride), from the reference workloads table
RESNET_LAYERS = {
    "C1": (224, 3, 64, 7, 2), "C2": (56, 64, 64, 3, 1), "C3": (56, 64, 64, 1, 1),
    "C4": (56, 64, 128, 3, 2), "C5": (56, 64, 128, 1, 2), "C6": (28, 128, 128, 3, 1),
    "C7": (28, 128, 256, 3, 2), "C8": (28, 128, 256, 1, 2), "C9": (14, 256, 256, 3, 1),
    "C10": (14, 256, 512, 3, 2), "C11": (14, 256, 512, 1, 2), "C12": (7, 512, 512, 3, 1),
}  # fmt: skip
THREADS = (1, 2)


# ----- onnxruntime side -----------------------------------------------------------------------
def ort_session(model, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_bound_run(sess, x: np.ndarray, out: np.ndarray):
    """A call of `sess` through IOBinding: input and preallocated output bound once, so
    onnxruntime, like vtac, writes into a buffer the caller owns (no allocation per call)."""
    binding = sess.io_binding()
    binding.bind_cpu_input("x", x)
    binding.bind_output("y", "cpu", 0, np.float32, list(out.shape), out.ctypes.data)

    def run(keep=(x, out)):  # the bound buffers must outlive the binding: keep them referenced
        sess.run_with_iobinding(binding)

    return run


def onnx_model(nodes, inputs, outputs, inits):
    from onnx import helper

    graph = helper.make_graph(nodes, "bench", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # onnxruntime on this machine reads IR <= 10
    return model


def conv_model(x_shape, w: np.ndarray, stride: int, pad: int):
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[pad] * 4, strides=[stride] * 2,
                            kernel_shape=list(w.shape[2:]))  # fmt: skip
    return onnx_model(
        [node],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )


def matmul_model(m: int, w: np.ndarray):
    from onnx import TensorProto, helper, numpy_helper

    return onnx_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )


# ----- timing -----------------------------------------------------------------------------
def per_call_seconds(fn, budget: float = 0.02) -> float:
    """Mean seconds per call over enough calls to fill `budget` seconds (at least one)."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    reps = max(1, min(200, int(budget / max(once, 1e-6))))
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def race(systems: dict, runs: int) -> dict[str, float]:
    """Median seconds per call of each system, alternating the order run by run."""
    for fn in systems.values():  # warm up: compile, first-touch, thread pools
        fn()
        fn()
    samples: dict[str, list[float]] = {k: [] for k in systems}
    names = list(systems)
    for r in range(runs):
        for name in names if r % 2 == 0 else names[::-1]:
            samples[name].append(per_call_seconds(systems[name]))
    return {k: float(np.median(v)) for k, v in samples.items()}


# ----- workloads --------------------------------------------------------------------------
def conv_systems(name: str, threads: int, rng) -> tuple[dict, int]:
    hw, c, o, k, s = RESNET_LAYERS[name]
    pad = (k - 1) // 2
    shape = Conv2dShape(1, c, hw, hw, o, k, k, (s, s), (pad, pad))
    kn = default_knobs(shape, vector_lanes(), vector_registers())
    x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((o, c, k, k)) * 0.1).astype(np.float32)
    xb = layout.pack_nchwc_numpy(x, kn.ic_bn, (pad, pad))
    wb = layout.pack_conv_weight(w, kn.ic_bn, kn.oc_bn)
    oh, ow = shape.out_hw
    out = np.empty((1, o // kn.oc_bn, oh, ow, kn.oc_bn), np.float32)
    sess = ort_session(conv_model(x.shape, w, s, pad), threads)
    ref = sess.run(None, {"x": x})[0]
    got = layout.unpack_nchwc_numpy(ops.conv2d_nchwc_kernel(xb, wb, shape, kn, out=out))
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    if err > 1e-4:
        raise AssertionError(f"{name}: vtac and onnxruntime differ (max rel err {err:.2e})")

    # NCHW -> NCHW: pack, convolution and unpack as three stages of one kernel.
    fused = ops.kernel(
        ("conv_nchw", shape, kn, False, False, "float32"), lambda: conv2d_nchw_fused(shape, kn)
    )
    y = np.empty((1, o, oh, ow), np.float32)
    fused(x, wb, y)
    err = max(err, float(np.abs(y - ref).max() / np.abs(ref).max()))
    if err > 1e-4:
        raise AssertionError(f"{name}: vtac (NCHW) and onnxruntime differ (max rel err {err:.2e})")

    y_ort = np.empty_like(ref)
    ort_run = ort_bound_run(sess, x, y_ort)
    ort_run()
    if not np.allclose(y_ort, ref, rtol=0, atol=1e-5 * float(np.abs(ref).max())):
        raise AssertionError(f"{name}: onnxruntime with IOBinding disagrees with session.run")
    return (
        {
            "vtac": lambda: ops.conv2d_nchwc_kernel(xb, wb, shape, kn, out=out),
            "vtac_layout": lambda: fused(x, wb, y),
            "ort": ort_run,
        },
        shape.flops,
        {"knobs": kn.__dict__},
    )


def dense_systems(threads: int, rng, m=1024, k=1024, n=1024):
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    kn = default_dense_knobs(m, k, n, vector_lanes())
    wp = pack_dense_weight(w, kn.nb)[None]
    x3 = x[None]
    out = np.empty((1, m, n), np.float32)
    kern = ops.kernel(("dense", m, k, n, kn, False, False), lambda: dense(m, k, n, kn))
    sess = ort_session(matmul_model(m, w), threads)
    kern(x3, wp, out)
    err = float(np.abs(out[0] - sess.run(None, {"x": x})[0]).max())
    if err > 1e-2:
        raise AssertionError(f"dense: vtac and onnxruntime differ (max abs err {err:.2e})")
    y_ort = np.empty((m, n), np.float32)
    return (
        {"vtac": lambda: kern(x3, wp, out), "ort": ort_bound_run(sess, x, y_ort)},
        2 * m * k * n,
        {"knobs": kn.__dict__},
    )


def geomean(xs) -> float:
    xs = list(xs)
    return float(math.exp(sum(math.log(x) for x in xs) / len(xs)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--runs", type=int, default=9, help="alternating runs per figure (median)")
    ap.add_argument("--only", default="", help="comma-separated subset: C1..C12, dense, chain")
    ap.add_argument("--markdown", metavar="JSON", help="print the table of a saved --json run")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(Path(args.markdown).read_text())))
        return 0
    wanted = [w for w in args.only.split(",") if w] or [*RESNET_LAYERS, "dense", "chain"]
    rng = np.random.default_rng(0)
    load_before = list(os.getloadavg())  # the machine is shared: say how busy it was
    rows = []
    for name in wanted:
        row: dict = {"name": name}
        for t in THREADS:
            set_num_threads(t)
            if name in RESNET_LAYERS:
                systems, flops, extra = conv_systems(name, t, rng)
                row["kind"] = "conv2d"
            elif name == "dense":
                systems, flops, extra = dense_systems(t, rng)
                row["kind"] = "dense"
            elif name == "chain":
                from scripts.bench_cpu_chain import chain_systems

                systems, flops, extra = chain_systems(t, rng)
                row["kind"] = "resnet18_chain"
            else:
                raise SystemExit(f"unknown workload {name!r}")
            med = race(systems, args.runs)
            row.update(extra)
            row["gflop"] = flops / 1e9
            for sys_name, sec in med.items():
                row[f"{sys_name}_ms_{t}t"] = sec * 1e3
                row[f"{sys_name}_gflops_{t}t"] = flops / sec / 1e9
            row[f"speed_vs_ort_{t}t"] = med["ort"] / med["vtac"]
            if "vtac_layout" in med:
                row[f"speed_with_layout_vs_ort_{t}t"] = med["ort"] / med["vtac_layout"]
        rows.append(row)
        if not args.json:
            print(format_row(row), flush=True)
    convs = [r for r in rows if r["kind"] == "conv2d"]
    result = {
        "host": {
            "cpu": host().cpu,
            "vector_lanes_f32": vector_lanes(),
            "runs": args.runs,
            "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "ops": rows,
    }
    for t in THREADS:
        if convs:
            # The headline compares like with like: NCHW in, NCHW out, both writing into a
            # preallocated output (vtac's layout conversions included, onnxruntime's IOBinding).
            result[f"geomean_speed_vs_ort_{t}t"] = geomean(
                r[f"speed_with_layout_vs_ort_{t}t"] for r in convs
            )
            result[f"geomean_kernel_only_vs_ort_{t}t"] = geomean(
                r[f"speed_vs_ort_{t}t"] for r in convs
            )
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            if k.startswith("geomean"):
                print(f"{k}: {v:.3f}")
    return 0


def markdown_table(result: dict) -> str:
    """The docs table of a `--json` result: latency, GFLOP/s and speed ratio per workload."""
    head = (
        "| workload | GFLOP | vtac 1t ms (GFLOP/s) | ort 1t ms (GFLOP/s) | vtac/ort 1t "
        "| with layout 1t | vtac 2t ms (GFLOP/s) | ort 2t ms (GFLOP/s) | vtac/ort 2t "
        "| with layout 2t |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in result["ops"]:
        cells = [r["name"], f"{r['gflop']:.3f}"]
        for t in THREADS:
            cells += [
                f"{r[f'vtac_ms_{t}t']:.2f} ({r[f'vtac_gflops_{t}t']:.0f})",
                f"{r[f'ort_ms_{t}t']:.2f} ({r[f'ort_gflops_{t}t']:.0f})",
                f"{r[f'speed_vs_ort_{t}t']:.2f}",
                f"{r[f'speed_with_layout_vs_ort_{t}t']:.2f}"
                if f"speed_with_layout_vs_ort_{t}t" in r
                else "–",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    geo = [
        f"geomean over C1–C12, vtac speed ÷ onnxruntime speed: {t} thread(s) "
        f"**{result[f'geomean_speed_vs_ort_{t}t']:.2f}** (like for like: NCHW in and out), "
        f"{result[f'geomean_kernel_only_vs_ort_{t}t']:.2f} (vtac kernel only)"
        for t in THREADS
        if f"geomean_speed_vs_ort_{t}t" in result
    ]
    return "\n".join(lines + [""] + [f"- {g}" for g in geo])


def format_row(r: dict) -> str:
    parts = [f"{r['name']:6s}"]
    for t in THREADS:
        parts.append(
            f"{t}t vtac {r[f'vtac_ms_{t}t']:8.3f} ms ({r[f'vtac_gflops_{t}t']:6.1f} GF/s) "
            f"ort {r[f'ort_ms_{t}t']:8.3f} ms ({r[f'ort_gflops_{t}t']:6.1f}) "
            f"x{r[f'speed_vs_ort_{t}t']:.2f}"
        )
        if f"vtac_layout_ms_{t}t" in r:
            parts.append(f"layout x{r[f'speed_with_layout_vs_ort_{t}t']:.2f}")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
