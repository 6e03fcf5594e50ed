"""The RTL parameter headers are generated from the hardware config; the committed default
headers must be current."""

from __future__ import annotations

import pytest

from hw_sim.config import HwConfig, load_config
from runtime.rtl_params import (
    COMMITTED_INCLUDE_DIR,
    COUNTER_NAMES,
    CPP_NAME,
    VH_NAME,
    cpp_header,
    params,
    rtl_constraints,
    verilog_header,
)


def test_committed_headers_are_current():
    cfg = load_config("default")
    for name, text in ((VH_NAME, verilog_header(cfg)), (CPP_NAME, cpp_header(cfg))):
        committed = (COMMITTED_INCLUDE_DIR / name).read_text()
        assert committed == text, (
            f"hardware/verilog/include/{name} is stale: run `python -m runtime.rtl_params`"
        )


def test_params_follow_the_config(cfg: HwConfig):
    p = params(cfg)
    assert p["BLOCK_IN"] == cfg.block_in and p["BLOCK_OUT"] == cfg.block_out
    assert p["WGT_ROW_BYTES"] == cfg.wgt_elem_bytes
    assert p["LOG_ACC_DEPTH"] == cfg.log_acc_depth
    assert p["BUS_BYTES"] == cfg.bus_bytes
    assert p["CMD_QUEUE_DEPTH"] == cfg.CMD_QUEUE_DEPTH
    assert p["FETCH_CHUNK"] * cfg.insn_bytes <= max(cfg.MAX_BURST_BEATS * cfg.bus_bytes, 16)
    assert p["N_COUNTERS"] == len(COUNTER_NAMES)
    assert f"`define VTA_BLOCK_IN {cfg.block_in}\n" in verilog_header(cfg)
    assert rtl_constraints(cfg) == []


def test_unbuildable_config_is_named():
    d = load_config("small").to_dict() | {"GEMM_PIPELINE": 0}
    problems = rtl_constraints(HwConfig.from_dict(d, name="nopipe"))
    assert any("GEMM_PIPELINE" in p for p in problems)


@pytest.mark.rtl
def test_stale_build_inputs_change_the_cache_key(tmp_path, monkeypatch):
    from runtime import rtl_build

    cfg = load_config("small")
    key = rtl_build.build_key(cfg)
    assert key == rtl_build.build_key(cfg)
    other = HwConfig.from_dict(cfg.to_dict() | {"DRAM_LATENCY": cfg.DRAM_LATENCY + 1}, "x")
    assert rtl_build.build_key(other) != key
