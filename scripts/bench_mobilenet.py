"""A MobileNet-V1 (random weights, BN folded) compiled whole and co-run on hw_sim: how much runs
on the accelerator and what the co-run costs.

    python scripts/bench_mobilenet.py [--width 0.25] [--image 224] [--config default] [--json]

The model is built here (3x3/2 stem, 13 depthwise-separable blocks 3x3 depthwise + BN + ReLU6
then 1x1 + BN + ReLU6, global average pool, dense), so the same script measures any checkout
(copy it there). Reported: accelerator / CPU launches, the share of the model's unpadded MACs
on the accelerator, accelerator cycles, the sequential co-run latency (accelerator at the config
clock + per-launch overhead, CPU parts measured on this host after a warm-up, median of
`--repeats`: noisy) split into accelerator,
CPU compute and boundary (quantize/pack/unpack/dequantize) time, bit-exactness of every launch,
and the int8 output's relative L2 error vs the float model.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.driver.compile_model import compile_model  # noqa: E402
from compiler.graph.builder import GraphBuilder  # noqa: E402
from compiler.graph.executor import run_graph  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.executor import Executor, launch_mismatches  # noqa: E402
from runtime.profile import build_profile  # noqa: E402
from runtime.timeline import co_run_timeline  # noqa: E402

# (output channels at width 1, stride) of MobileNet-V1's depthwise-separable blocks
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
BLOCKS += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


def mobilenet_v1(width: float, image: int, classes: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    b = GraphBuilder("mobilenet_v1", opset=13)
    lo, hi = b.const("zero", np.float32(0)), b.const("six", np.float32(6))
    ch = lambda c: max(8, int(c * width))  # noqa: E731

    def conv_bn_relu6(x, cin, cout, k, stride, group, name):
        fan = cin // group * k * k
        w = rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan)
        y = b.op("Conv", [x, b.const(f"{name}.w", w.astype(np.float32))], name=name,
                 kernel_shape=(k, k), strides=(stride, stride), pads=(k // 2,) * 4,
                 group=group)  # fmt: skip
        bn = [rng.uniform(0.5, 1.5, cout), rng.standard_normal(cout) * 0.1,
              rng.standard_normal(cout) * 0.1, rng.uniform(0.5, 1.5, cout)]  # fmt: skip
        names = [b.const(f"{name}.bn{i}", p.astype(np.float32)) for i, p in enumerate(bn)]
        y = b.op("BatchNormalization", [y, *names], name=f"{name}.bn", epsilon=1e-5)
        return b.op("Clip", [y, lo, hi], name=f"{name}.relu6")

    x = b.input("input", (1, 3, image, image))
    c = ch(32)
    y = conv_bn_relu6(x, 3, c, 3, 2, 1, "stem")
    for i, (cout, stride) in enumerate(BLOCKS):
        y = conv_bn_relu6(y, c, c, 3, stride, c, f"b{i}.dw")
        y = conv_bn_relu6(y, c, ch(cout), 1, 1, 1, f"b{i}.pw")
        c = ch(cout)
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y], name="gap")], name="flat")
    fc = rng.standard_normal((classes, c)) / np.sqrt(c)
    b.output(b.op("Gemm", [y, b.const("fc.w", fc.astype(np.float32))], name="fc", transB=1))
    return b.build()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--config", default="default")
    ap.add_argument("--repeats", type=int, default=5, help="CPU launches: median of this many")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    g = mobilenet_v1(args.width, args.image)
    rng = np.random.default_rng(1)
    shape = (1, 3, args.image, args.image)
    calib = [{"input": rng.uniform(0, 1, shape).astype(np.float32)} for _ in range(2)]
    feed = {"input": rng.uniform(0, 1, shape).astype(np.float32)}
    model = compile_model(g, cfg, calib)
    Executor(model, "hw_sim").run(feed)  # warm-up (JIT, caches)
    res = Executor(model, "hw_sim").run(feed, keep_values=True, cpu_repeats=args.repeats)
    durations = [r.time_us for r in res.launches]
    prof = build_profile(model, res.launches, co_run_timeline(model, durations))
    out = model.outputs[0]
    want = run_graph(g, feed)[out]
    err = float(np.linalg.norm(res.outputs[out] - want) / np.linalg.norm(want))
    total = prof.accel_macs + prof.cpu_macs
    result = {
        "host": platform.processor() or platform.machine(),
        "config": cfg.name,
        "model": f"mobilenet_v1 width {args.width} {args.image}x{args.image}",
        "accel_launches": len(model.accel_launches()),
        "cpu_launches": len(model.cpu_launches()),
        "accel_mac_share": prof.accel_macs / total if total else 0.0,
        "accel_cycles": prof.accel_cycles,
        "latency_us": prof.sequential_us,
        "accel_us": prof.accel_us,
        "cpu_us": prof.cpu_us,
        "boundary_us": prof.boundary_us,
        "launch_overhead_us": prof.overhead_us,
        "cpu_share": (prof.cpu_us + prof.boundary_us) / prof.sequential_us,
        "bit_exact": not launch_mismatches(model, res.values),
        "int8_error_vs_float": err,
        "kept_float": sorted(model.meta["quant"]["kept_float"]),
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
