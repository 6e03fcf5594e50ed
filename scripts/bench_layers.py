"""Latency hiding, measured: ResNet-18 conv layers on hw_sim with and without virtual threads.

For each layer of VTA's conv2d benchmark (C2, C4-C12; epilogue >> 8, + bias, clip [0, 127]) the
operator is compiled twice with the default heuristic schedule — with two virtual threads
(ping-pong buffers, latency hiding) and without — and run on hw_sim. Reported per layer: cycles,
compute utilization (useful GEMM micro-op cycles / total cycles; useful = the convolution's own
micro-ops), the simulator's GEMM-busy fraction (every non-reset GEMM micro-op, including the
bias ones, ÷ total cycles), achieved GOPS at the configured clock, and the compile time. A
roofline plot (PNG) shows both series, as Fig. 10 of the TVM paper, a line joining each layer's
two points. `--bias-on alu` measures the ALU-bias variant instead of the default GEMM-unit bias.
Every kernel is also checked with `hw_sim.portability.check_portable` on random operands: the
JSON's `portable` is true when all of them give identical DRAM under VTA's three OUT-buffer
semantics (and fsim's scheduling order) and break no portability rule; the exit status is 1
otherwise.

    python scripts/bench_layers.py [--config default] [--json] [--plot docs/compiler-roofline.png]
        [--bias-on gemm|alu] [--layers C2 C4 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.vta.build import build  # noqa: E402
from compiler.vta.ops import conv2d_op  # noqa: E402
from hw_sim.config import load_config  # noqa: E402
from hw_sim.portability import check_portable  # noqa: E402
from runtime.device import get_device  # noqa: E402

LAYERS = {
    "C2": (56, 64, 64, 3, 1), "C4": (56, 64, 128, 3, 2), "C5": (56, 64, 128, 1, 2),
    "C6": (28, 128, 128, 3, 1), "C7": (28, 128, 256, 3, 2), "C8": (28, 128, 256, 1, 2),
    "C9": (14, 256, 256, 3, 1), "C10": (14, 256, 512, 3, 2), "C11": (14, 256, 512, 1, 2),
    "C12": (7, 512, 512, 3, 1),
}  # fmt: skip


def useful_uops(cfg, h, ci, co, k, s) -> int:
    """GEMM micro-ops the convolution itself needs (batch 1)."""
    oh = (h + 2 * ((k - 1) // 2) - k) // s + 1
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    return oh * oh * cdiv(ci, cfg.block_in) * cdiv(co, cfg.block_out) * k * k


def measure(cfg, name: str, vthreads: bool, bias_on: str = "gemm") -> dict:
    h, ci, co, k, s = LAYERS[name]
    op = conv2d_op(cfg, 1, ci, h, h, co, k, s, (k - 1) // 2, bias_on=bias_on)
    t0 = time.perf_counter()
    kern = build(op, cfg, vthreads=vthreads)
    compile_s = time.perf_counter() - t0
    dev = get_device("hw_sim", cfg)
    dev.load(kern.program)
    # random operands (zeros would store zeros under every semantics and prove nothing)
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, ci, h, h)).astype(np.int8)
    w = rng.integers(-128, 128, (co, ci, k, k)).astype(np.int8)
    b = rng.integers(-(2**14), 2**14, (co,)).astype(np.int32)
    for buf, a in kern.pack_inputs(data=x, kernel=w, bias=b).items():
        dev.write(buf, a)
    report = check_portable(kern.program, cfg, dram=dev.dram)
    t0 = time.perf_counter()
    st = dev.run()
    sim_s = time.perf_counter() - t0
    useful = useful_uops(cfg, h, ci, co, k, s)
    # GEMM operands arrive through the load module's DRAM port: that traffic bounds the layer
    loaded = st.dram_bytes_read["INP"] + st.dram_bytes_read["WGT"]
    ops = 2 * cfg.macs_per_gemm_uop * useful
    return {
        "cycles": st.total_cycles,
        "utilization": useful / st.total_cycles,
        "gemm_busy": st.gemm_uops / st.total_cycles,
        "gops": ops * cfg.CLOCK_MHZ / st.total_cycles / 1e3,
        "ops_per_byte": ops / loaded,
        "compile_s": compile_s,
        "sim_s": sim_s,
        "instructions": len(kern.program.insns),
        "knobs": kern.knobs.to_dict(),
        # identical DRAM under chisel/hls/fsim and VTA fsim's order, every rule holding
        "portable": report.portable,
        "portability": report.summary() if not report.portable else "",
    }


def plot(cfg, layers: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    bw = cfg.bus_bytes * cfg.CLOCK_MHZ / 1e3  # GB/s of one DRAM port
    pts = [r[key]["ops_per_byte"] for r in layers for key in ("with_vt", "without_vt")]
    xs = np.logspace(np.log10(min(pts) / 3), np.log10(max(pts) * 3), 200)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(xs, np.minimum(cfg.peak_gops, bw * xs), "k-", lw=1, label="roofline (load port)")
    for key, label, mk in (
        ("without_vt", "without latency hiding", "o"),
        ("with_vt", "with latency hiding (2 virtual threads)", "^"),
    ):
        ax.scatter(
            [r[key]["ops_per_byte"] for r in layers],
            [r[key]["gops"] for r in layers],
            marker=mk,
            label=label,
        )
    for r in layers:  # join each layer's two points
        a, b = r["without_vt"], r["with_vt"]
        ax.plot([a["ops_per_byte"], b["ops_per_byte"]], [a["gops"], b["gops"]], "k:", lw=0.6)
    for r in layers:
        ax.annotate(
            r["name"],
            (r["with_vt"]["ops_per_byte"], r["with_vt"]["gops"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (ops / byte of input + weight loads)")
    ax.set_ylabel("GOPS")
    ax.set_title(f"ResNet-18 conv layers, hw_sim {cfg.bitstream_name}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help="write the roofline PNG here (default: none; the tracked figure is "
        "docs/compiler-roofline.png, rewritten only when named)",
    )
    ap.add_argument("--layers", nargs="*", default=list(LAYERS), choices=list(LAYERS))
    ap.add_argument(
        "--bias-on", default="gemm", choices=["gemm", "alu"], help="where the bias is added"
    )
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    rows = []
    for name in args.layers:
        rows.append(
            {
                "name": name,
                "with_vt": measure(cfg, name, True, args.bias_on),
                "without_vt": measure(cfg, name, False, args.bias_on),
            }
        )
    util = [r["with_vt"]["utilization"] for r in rows]
    portable = all(r[key]["portable"] for r in rows for key in ("with_vt", "without_vt"))
    result = {
        "config": cfg.name,
        "bias_on": args.bias_on,
        # every benchmarked kernel (with and without VT) gives identical DRAM under the three
        # OUT-buffer semantics (and VTA fsim's scheduling order) and breaks no portability rule;
        # the cycles below are those of these portable schedules
        "portable": portable,
        "peak_utilization": max(util),
        "mean_utilization": sum(util) / len(util),
        "peak_utilization_without_vt": max(r["without_vt"]["utilization"] for r in rows),
        "mean_utilization_without_vt": sum(r["without_vt"]["utilization"] for r in rows)
        / len(rows),
        "layers": [
            {
                "name": r["name"],
                "cycles": r["with_vt"]["cycles"],
                "utilization": r["with_vt"]["utilization"],
                "gops": r["with_vt"]["gops"],
                "gemm_busy": r["with_vt"]["gemm_busy"],
                "cycles_without_vt": r["without_vt"]["cycles"],
                "utilization_without_vt": r["without_vt"]["utilization"],
                "gops_without_vt": r["without_vt"]["gops"],
                "gemm_busy_without_vt": r["without_vt"]["gemm_busy"],
                "compile_s": r["with_vt"]["compile_s"],
                "compile_s_without_vt": r["without_vt"]["compile_s"],
                "knobs": r["with_vt"]["knobs"],
                "portable": r["with_vt"]["portable"],
                "portable_without_vt": r["without_vt"]["portable"],
            }
            for r in rows
        ],
    }
    if args.plot:
        plot(cfg, rows, Path(args.plot))
    for r in rows:
        for key in ("with_vt", "without_vt"):
            if not r[key]["portable"]:
                print(f"{r['name']} ({key}) is not portable:\n{r[key]['portability']}",
                      file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if portable else 1
    busy = [r["with_vt"]["gemm_busy"] for r in rows]
    busy_mean, busy_peak = sum(busy) / len(busy), max(busy)
    print(f"config {cfg.name}: {cfg.summary()}; bias on the {args.bias_on.upper()} unit; "
          f"portable (chisel = hls = fsim): {'yes' if portable else 'NO'}")  # fmt: skip
    print(
        "| layer | cycles (no VT) | util (no VT) | GOPS (no VT) | cycles (VT) | util (VT) | "
        "GOPS (VT) | GEMM-busy (VT) | compile (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r["without_vt"], r["with_vt"]
        print(
            f"| {r['name']} | {a['cycles']} | {a['utilization']:.1%} | {a['gops']:.1f} | "
            f"{b['cycles']} | {b['utilization']:.1%} | {b['gops']:.1f} | {b['gemm_busy']:.1%} | "
            f"{b['compile_s']:.2f} |"
        )
    print(
        f"| mean | | {result['mean_utilization_without_vt']:.1%} | | | "
        f"{result['mean_utilization']:.1%} | | {busy_mean:.1%} | |"
    )
    print(
        f"| peak | | {result['peak_utilization_without_vt']:.1%} | | | "
        f"{result['peak_utilization']:.1%} | | {busy_peak:.1%} | |"
    )
    if args.plot:
        print(f"roofline: {args.plot}")
    return 0 if portable else 1


if __name__ == "__main__":
    sys.exit(main())
