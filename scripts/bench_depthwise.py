"""Depthwise convolution on the accelerator, measured: MobileNet-size layers on hw_sim.

Each layer is a depthwise conv (one channel per group) + bias + requantize + ReLU6-style clip,
mapped to the GEMM unit as a grouped conv with block-diagonal weights
(`compiler/graph/depthwise.py`): KH*KW GEMM micro-ops per output vector and channel block, of
whose BLOCK x BLOCK MACs only BLOCK are useful. The kernel is compiled with the default
heuristic schedule, run on hw_sim with random operands and checked bit-exact against NumPy.
Reported per layer: cycles, raw GEMM busy (non-reset GEMM micro-op cycles / total: how busy the
unit is, padding included), useful-MAC utilization (the depthwise conv's own MACs / (cycles x
BATCH x BLOCK x BLOCK): what fraction of the unit's peak does real work), and `alu_bound`, the
ALU mapping's compute lower bound from the timing model (docs/timing-model.md: a tensor-operand
ALU micro-op takes 2 cycles): per output vector and tap one tensor MUL and one tensor ADD, 4 *
KH*KW cycles, before any load, weight broadcast or epilogue, and not portable (MUL is fsim-only:
VTA's HLS ignores it, Chisel stalls). `--portable` also checks every kernel with
`hw_sim.portability.check_portable` (slow for the big layers).

    python scripts/bench_depthwise.py [--config default] [--json] [--layers dw1 dw7 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.graph.depthwise import block_diagonal_weights  # noqa: E402
from compiler.graph.ref.nn import conv_nd  # noqa: E402
from compiler.vta.build import build  # noqa: E402
from compiler.vta.ops import conv2d_op  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from hw_sim.portability import check_portable  # noqa: E402
from runtime.device import get_device  # noqa: E402

# name: (H=W, channels, kernel, stride): MobileNet-V1's depthwise layers at 224x224 (dw7 occurs
# five times), and two 5x5 layers of MobileNet-V3 / EfficientNet size.
LAYERS = {
    "dw1": (112, 32, 3, 1), "dw2": (112, 64, 3, 2), "dw3": (56, 128, 3, 1),
    "dw4": (56, 128, 3, 2), "dw5": (28, 256, 3, 1), "dw6": (28, 256, 3, 2),
    "dw7": (14, 512, 3, 1), "dw8": (14, 512, 3, 2), "dw9": (7, 1024, 3, 1),
    "dw5x5a": (28, 240, 5, 1), "dw5x5b": (28, 120, 5, 2),
}  # fmt: skip
SHIFT = 7
# the whole-model epilogue: bias (with the rounding constant folded in, as lower_group does),
# shift, ReLU6-style clip
STEPS = [("bias",), ("shr", SHIFT), ("clip", 0, 127)]


def measure(cfg, name: str, portable: bool) -> dict:
    h, c, k, s = LAYERS[name]
    pad = k // 2
    block = cfg.block
    cp = -(-c // block) * block
    groups = cp // block
    op = conv2d_op(cfg, 1, cp, h, h, cp, k, s, pad, groups=groups, epilogue=STEPS, name=name)
    t0 = time.perf_counter()
    kern = build(op, cfg)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = np.zeros((1, cp, h, h), np.int8)
    x[:, :c] = rng.integers(-128, 128, (1, c, h, h))
    w = rng.integers(-127, 128, (c, 1, k, k)).astype(np.int8)
    b = np.zeros(cp, np.int32)
    b[:c] = rng.integers(-(2**10), 2**10, c)
    wd = block_diagonal_weights(w, block)
    dev = get_device("hw_sim", cfg)
    dev.load(kern.program)
    rounded = b + (1 << (SHIFT - 1))  # fold_rounding_into_bias
    for buf, a in kern.pack_inputs(data=x, kernel=wd, bias=rounded).items():
        dev.write(buf, a)
    report = check_portable(kern.program, cfg, dram=dev.dram) if portable else None
    t0 = time.perf_counter()
    st = dev.run()
    sim_s = time.perf_counter() - t0
    y = op.unpack(dev.read(kern.output_name))
    acc = conv_nd(x[:, :c].astype(np.float64), w.astype(np.float64), [s, s], [pad] * 2,
                  [pad] * 2, [1, 1], c).astype(np.int64) + b[:c].reshape(1, -1, 1, 1)  # fmt: skip
    want = np.clip((acc + (1 << (SHIFT - 1))) >> SHIFT, 0, 127)
    if not np.array_equal(y[:, :c], want):
        raise SystemExit(f"{name}: hw_sim result differs from NumPy")
    oh = (h + 2 * pad - k) // s + 1
    useful_macs = c * oh * oh * k * k
    conv_uops = groups * oh * oh * k * k  # the block-diagonal GEMM's own micro-ops
    return {
        "name": name,
        "shape": {"h": h, "c": c, "k": k, "stride": s, "padded_c": cp},
        "cycles": st.total_cycles,
        "gemm_uops": st.gemm_uops,
        "gemm_busy": conv_uops / st.total_cycles,
        "useful_mac_utilization": useful_macs / (st.total_cycles * cfg.macs_per_gemm_uop),
        "useful_macs": useful_macs,
        "alu_bound": 4 * conv_uops,
        "gemm_vs_alu_bound": st.total_cycles / (4 * conv_uops),
        "compile_s": compile_s,
        "sim_s": sim_s,
        "knobs": kern.knobs.to_dict(),
        "portable": None if report is None else report.portable,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--portable", action="store_true", help="check_portable every kernel")
    ap.add_argument("--layers", nargs="*", default=list(LAYERS), choices=list(LAYERS))
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    rows = [measure(cfg, name, args.portable) for name in args.layers]
    result = {"config": cfg.name, "clock_mhz": cfg.CLOCK_MHZ, "layers": rows}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"config {cfg.name} ({cfg.CLOCK_MHZ} MHz), depthwise conv as block-diagonal GEMM")
        print(f"{'layer':8} {'HxWxC k/s':>16} {'cycles':>10} {'us':>8} {'GEMM busy':>9} "
              f"{'useful':>7} {'ALU bound':>10}")  # fmt: skip
        for r in rows:
            sh = r["shape"]
            geo = f"{sh['h']}x{sh['h']}x{sh['c']} {sh['k']}/{sh['stride']}"
            print(f"{r['name']:8} {geo:>16} {r['cycles']:>10,} {r['cycles'] / cfg.CLOCK_MHZ:>8.1f} "
                  f"{r['gemm_busy']:>9.1%} {r['useful_mac_utilization']:>7.2%} "
                  f"{r['alu_bound']:>10,}")  # fmt: skip
    if any(r["portable"] is False for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
