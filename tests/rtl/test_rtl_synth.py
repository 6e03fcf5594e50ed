"""The Yosys resource report: parsing (fast) and a real synthesis of one module (slow, ~15 s)."""

from __future__ import annotations

import pytest

from runtime.rtl_synth import format_report, parse_stat, pretty_module


def _stat() -> dict:
    sram = "$paramod$abc\\vta_sram"
    return {
        "modules": {
            "\\vta_top": {"num_cells_by_type": {sram: 2, "\\vta_fetch": 1, "LUT2": 3}},
            sram: {"num_cells_by_type": {"RAM64M": 5, "LUT6": 7, "FDRE": 2}},
            "\\vta_fetch": {"num_cells_by_type": {"FDRE": 10, "LUT3": 4, "RAMB18E1": 1}},
        }
    }


def test_parse_stat_counts_inclusive_resources_per_module():
    rep = parse_stat(_stat())
    sram = rep["modules"]["vta_sram"]  # one parameter variant, two instances
    assert sram["instances"] == 2
    assert (sram["luts"], sram["lutram"], sram["ffs"]) == (14, 40, 4)
    assert rep["modules"]["vta_fetch"]["brams"] == 0.5
    assert rep["total"]["luts"] == 14 + 4 + 3 and rep["total"]["ffs"] == 14
    text = format_report({"config": "t", "bitstream": "b", "target": "x", "tool": "y"} | rep)
    assert "vta_sram" in text and "total" in text


def test_pretty_module_names():
    assert pretty_module("$paramod$0123\\vta_sram") == "vta_sram"
    assert pretty_module("$paramod\\vta_token_counter\\LATENCY=s32'1") == "vta_token_counter"
    assert pretty_module("\\vta_top") == "vta_top"


def test_synth_top_must_take_its_sizes_from_the_header():
    from hw_sim.config import load_config
    from runtime.rtl_synth import SynthError, synthesize

    with pytest.raises(SynthError, match="vta_gemm_core"):
        synthesize(load_config("small"), top="vta_gemm_core")


@pytest.mark.rtl
@pytest.mark.slow
def test_synthesize_small_config_store():
    """A real Yosys `synth_xilinx` run, kept to ~15 s: the small config's store module with its
    DMA write engine and cycle counters. The whole accelerator (2.5-23 min) is `vtac rtl synth`,
    see docs/rtl.md."""
    from hw_sim.config import load_config
    from runtime.rtl_synth import synthesize

    rep = synthesize(load_config("small"), top="vta_store")
    assert rep["top"] == "vta_store"
    dma = rep["modules"]["vta_dma_write"]
    assert dma["instances"] == 1 and dma["luts"] > 0 and dma["ffs"] > 0
    assert rep["modules"]["vta_cycle_classes"]["ffs"] == 4 * 64  # four 64-bit cycle counters
    for k in ("luts", "ffs", "dsps"):  # inclusive total = submodules + the store's own cells
        assert rep["total"][k] == sum(row[k] for row in rep["modules"].values())
    assert rep["total"]["luts"] > 0 and rep["total"]["ffs"] > 0
