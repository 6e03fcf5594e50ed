"""HardSwish on the ALU's MUL: fused into the producing conv's epilogue vs its own launch.

    .venv/bin/python scripts/bench_mul_ops.py [--config mul] [--json]

Per layer shape (PP-OCR-cls's HardSwish layers): hw_sim cycles of the conv + requantize alone,
of the conv with HardSwish fused into its epilogue (a zero tile + tensor ADD copies the value),
and of the conv followed by a standalone HardSwish launch (the int8 result stored, loaded twice
into the accumulator); the launch overhead of the config (`LAUNCH_OVERHEAD_US`) is counted per
launch. All three are bit-exact with the reference (checked here).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.driver.lower_group import _requantize_steps  # noqa: E402
from compiler.driver.mul_epilogue import drop_idle_clips_after_hardswish  # noqa: E402
from compiler.graph.hardswish_int import hardswish_int, reference  # noqa: E402
from compiler.graph.ir import Node  # noqa: E402
from compiler.vta.build import build  # noqa: E402
from compiler.vta.mul_ops import hardswish_op  # noqa: E402
from compiler.vta.ops import conv2d_op  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from runtime.device import get_device  # noqa: E402

# (name, in channels, out channels, H, W, kernel, groups): PP-OCR-cls at 48x192
LAYERS = [
    ("pointwise 32->32 @6x96", 32, 32, 6, 96, 1, 1),
    ("pointwise 88->88 @3x96", 88, 88, 3, 96, 1, 1),
    ("depthwise 3x3 200 @2x96", 200, 200, 2, 96, 3, 200),
]


def _steps(shift: int) -> list[tuple]:
    node = Node("r", "vtac.requantize", ("a",), ("b",), {"shift": shift, "lo": -128, "hi": 127})
    return _requantize_steps(node)


def _cycles(cfg, kern, **inputs) -> tuple[np.ndarray, int]:
    y, stats = kern.run(get_device("hw_sim", cfg), **inputs)
    return y, stats.total_cycles


def measure(cfg, name, ci, co, h, w, k, groups) -> dict:
    rng = np.random.default_rng(0)
    hs = hardswish_int(-4, -4)
    args = (hs.offset, hs.six, hs.mult, hs.pre_shift, hs.bias)
    req = [("bias",), *_steps(8)]
    post = drop_idle_clips_after_hardswish([("hardswish", *args), *_steps(hs.shift)])
    if groups > 1:  # depthwise: block-diagonal, as the compiler runs it
        ci_g, groups_b = cfg.block, -(-co // cfg.block)
        ci = co = groups_b * cfg.block
        wshape = (co, ci_g, k, k)
    else:
        groups_b, wshape = 1, (co, ci, k, k)
    x = rng.integers(-128, 128, (1, ci, h, w)).astype(np.int8)
    wt = rng.integers(-128, 128, wshape).astype(np.int8)
    b = rng.integers(-5000, 5000, co).astype(np.int32)
    conv = lambda steps, nm: conv2d_op(cfg, 1, ci, h, w, co, k, 1, k // 2, groups=groups_b,  # noqa: E731
                                       epilogue=steps, name=nm)  # fmt: skip
    q, c_plain = _cycles(cfg, build(conv(req, "conv"), cfg), data=x, kernel=wt, bias=b)
    y_f, c_fused = _cycles(cfg, build(conv(req + post, "conv_hs"), cfg), data=x, kernel=wt, bias=b)
    standalone = build(hardswish_op(cfg, (1, co, h, w), *post[0][1:], post[1:]), cfg)
    y_s, c_alone = _cycles(cfg, standalone, a=q)
    want = reference(q, hs)
    assert np.array_equal(y_f, want) and np.array_equal(y_s, want), name
    over = int(cfg.LAUNCH_OVERHEAD_US * cfg.CLOCK_MHZ)
    rows = co // cfg.block * h * w
    return {
        "layer": name, "rows": rows, "conv_cycles": c_plain, "fused_cycles": c_fused,
        "standalone_cycles": c_alone, "fused_extra_per_row": (c_fused - c_plain) / rows,
        "standalone_per_row": c_alone / rows,
        "fused_total_with_overhead": c_fused + over,
        "separate_total_with_overhead": c_plain + c_alone + 2 * over,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="mul")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    if not cfg.ALU_MUL:
        print(f"config {cfg.name!r} has no ALU MUL (use --config mul)", file=sys.stderr)
        return 2
    rows = [measure(cfg, *layer) for layer in LAYERS]
    if args.json:
        print(json.dumps({"config": cfg.name, "layers": rows}, indent=1))
        return 0
    for r in rows:
        print(f"{r['layer']:<26} conv {r['conv_cycles']:>8,}  fused {r['fused_cycles']:>8,} "
              f"(+{r['fused_extra_per_row']:.1f}/row)  standalone {r['standalone_cycles']:>8,} "
              f"({r['standalone_per_row']:.1f}/row)  with launch overheads: fused "
              f"{r['fused_total_with_overhead']:,} vs separate "
              f"{r['separate_total_with_overhead']:,}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
