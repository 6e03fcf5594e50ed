"""Fixed-point requantization with the ALU's MUL: its cycle cost on hw_sim.

Two parts (`--parts`, default both), on a config with ALU_MUL (`--config mul`, default; a
config without it, e.g. `--config small`, is measured with ALU_MUL switched on):
- `layers`: ResNet-18 conv layers C2..C12, each with three epilogues: per tensor (bias with
  the rounding folded in, >> 8, clip), per-channel shifts (bias, tensor SHR by a shift row,
  clip) and fixed point (bias, tensor SHR by a pre-shift row, clamp, tensor MUL by a
  multiplier row, >> k, + rounding, >> 15, clip; multipliers planned for per-channel factors
  2**-12 .. 2**-9 as `quantize_int8(requant="mul")` would), all checked bit-exact against NumPy.
- `resnet18`: the built-in ResNet-18 compiled with `requant="shift"` and `requant="mul"`
  (`compile_model(quant_options=...)`), run on hw_sim: accelerator cycles, end-to-end
  bit-exactness against the reference executor, and the int8 output's relative L2 error vs the
  float model (2 random calibration inputs, a third measured: a cycle benchmark, not an
  accuracy one; scripts/bench_quant.py measures accuracy on photos).

    python scripts/bench_mul_requant.py [--config mul] [--json] [--parts layers resnet18]
        [--image 224] [--layers C2 C3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_per_channel import LAYERS, measure_layer  # noqa: E402

from compiler.driver.per_channel_epilogue import fixed_point_steps, fold_channel_steps  # noqa: E402
from compiler.graph.quant.fixed_point import plan_multipliers  # noqa: E402
from compiler.vta.build import build  # noqa: E402
from compiler.vta.ops import conv2d_op  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.device import get_device  # noqa: E402


def _conv_acc(x, w, b, stride, pad):
    n, ci, h, _ = x.shape
    co, _, k, _ = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - k) // stride + 1
    cols = np.stack([xp[:, :, i : i + stride * oh : stride, j : j + stride * oh : stride]
                     for i in range(k) for j in range(k)], axis=2)  # fmt: skip
    acc = np.einsum("nckhw,ock->nohw", cols, w.reshape(co, ci, k * k).astype(np.int64))
    return acc + b.reshape(1, -1, 1, 1)


def measure_mul_layer(cfg, name: str, seed: int = 0) -> dict:
    h, ci, co, k, s = LAYERS[name]
    pad = (k - 1) // 2
    rng = np.random.default_rng(seed)
    fp = plan_multipliers(2.0 ** rng.uniform(-12, -9, co), 128, name)
    steps = [("bias",), *fixed_point_steps(name, fp.pre, fp.mult, fp.shift), ("clip", 0, 127)]
    ch = fold_channel_steps(steps, co, name)
    op = conv2d_op(cfg, 1, ci, h, h, co, k, s, pad, epilogue=ch.steps, name=name)
    kern = build(op, cfg)
    x = rng.integers(-128, 128, (1, ci, h, h), dtype=np.int8)
    w = rng.integers(-128, 128, (co, ci, k, k), dtype=np.int8)
    b = rng.integers(-(1 << 12), 1 << 12, co).astype(np.int32)
    inputs = dict(data=x, kernel=w, bias=(b + ch.bias_add).astype(np.int32), mult=ch.mult_row)
    if ch.shift_row is not None:
        inputs["shift"] = ch.shift_row
    y, stats = kern.run(get_device("hw_sim", cfg), **inputs)
    ref = np.clip(fp.apply(_conv_acc(x, w, b, s, pad), (1, -1, 1, 1)), 0, 127).astype(np.int8)
    return {"cycles": stats.total_cycles, "alu_uops": stats.alu_uops,
            "bit_exact": bool(np.array_equal(y, ref)), "steps": [st[0] for st in ch.steps],
            "multiplier_bits": float(np.log2(fp.mult.min()))}  # fmt: skip


def bench_layers(cfg, names) -> list[dict]:
    rows = []
    for name in names:
        t, c = measure_layer(cfg, name, False), measure_layer(cfg, name, True)
        m = measure_mul_layer(cfg, name)
        rows.append({"layer": name, "per_tensor_cycles": t["cycles"],
                     "per_channel_shift_cycles": c["cycles"], "mul_cycles": m["cycles"],
                     "mul_vs_shift": m["cycles"] / c["cycles"] - 1,
                     "mul_vs_per_tensor": m["cycles"] / t["cycles"] - 1,
                     "alu_uops": {"per_tensor": t["alu_uops"], "per_channel_shift": c["alu_uops"],
                                  "mul": m["alu_uops"]},
                     "mul_steps": m["steps"], "min_multiplier_bits": m["multiplier_bits"],
                     "bit_exact": all(r["bit_exact"] for r in (t, c, m))})  # fmt: skip
        print(f"  {name}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def bench_resnet18(cfg, image: int) -> dict:
    """The whole built-in ResNet-18 with shift vs fixed-point requantization."""
    from bench_per_channel import bench_resnet18 as bench_variants

    return bench_variants(cfg, image, {"shift": {"requant": "shift"}, "mul": {"requant": "mul"}})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="mul")
    p.add_argument("--json", action="store_true")
    p.add_argument("--parts", nargs="+", default=["layers", "resnet18"],
                   choices=["layers", "resnet18"])  # fmt: skip
    p.add_argument("--layers", nargs="+", default=list(LAYERS))
    p.add_argument("--image", type=int, default=224)
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    label = cfg.name
    if not cfg.ALU_MUL:  # e.g. small: the same config with the ALU's MUL
        cfg, label = dataclasses.replace(cfg, ALU_MUL=True), f"{cfg.name}+ALU_MUL"
    doc = {"config": label, "host": platform.node(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    if "layers" in args.parts:
        doc["layers"] = bench_layers(cfg, args.layers)
    if "resnet18" in args.parts:
        doc["resnet18"] = bench_resnet18(cfg, args.image)
    print(json.dumps(doc, indent=1, default=float) if args.json else doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
