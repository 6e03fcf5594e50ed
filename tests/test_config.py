"""The hardware config: VTA's defaults, derived sizes, and clear errors for bad files."""

import json

import pytest

from hw_sim.config import ConfigError, HwConfig, load_config


def test_default_equals_vta_default():
    c = load_config("default")
    assert c.bitstream_name == "1x16_i8w8a32_15_15_18_17"
    assert (c.batch, c.block_in, c.block_out) == (1, 16, 16)
    # VTA hw_spec_const.h: depths and index widths
    assert (c.uop_depth, c.inp_depth, c.wgt_depth, c.acc_depth, c.out_depth) == (
        8192,
        2048,
        1024,
        2048,
        2048,
    )
    assert (c.inp_elem_bytes, c.wgt_elem_bytes, c.acc_elem_bytes, c.out_elem_bytes) == (
        16,
        256,
        64,
        16,
    )
    assert (c.uop_dst_width, c.uop_src_width, c.uop_wgt_width) == (11, 11, 10)
    assert c.bus_bits == 64 and c.CLOCK_MHZ == 100
    assert c.peak_gops == pytest.approx(51.2)
    # buffer sizes in bytes: 32 KiB uop, 32 KiB inp, 256 KiB wgt, 128 KiB acc
    assert c.uop_depth * c.uop_elem_bytes == 32 * 1024
    assert c.inp_depth * c.inp_elem_bytes == 32 * 1024
    assert c.wgt_depth * c.wgt_elem_bytes == 256 * 1024
    assert c.acc_depth * c.acc_elem_bytes == 128 * 1024


def test_derived_sizes_are_consistent(cfg):
    assert cfg.uop_dst_width + cfg.uop_src_width + cfg.uop_wgt_width <= 32
    assert cfg.block_in * cfg.batch * cfg.inp_width // 8 == cfg.inp_elem_bytes
    for key, depth, elem in (
        ("LOG_UOP_BUFF_SIZE", cfg.uop_depth, cfg.uop_elem_bytes),
        ("LOG_INP_BUFF_SIZE", cfg.inp_depth, cfg.inp_elem_bytes),
        ("LOG_WGT_BUFF_SIZE", cfg.wgt_depth, cfg.wgt_elem_bytes),
        ("LOG_ACC_BUFF_SIZE", cfg.acc_depth, cfg.acc_elem_bytes),
    ):
        assert depth * elem == 1 << getattr(cfg, key), key


def test_small_config_is_smaller():
    """The second config the suite runs on: a smaller block and smaller buffers and queues."""
    small, default = load_config("small"), load_config("default")
    assert small.block < default.block
    for key in ("LOG_UOP_BUFF_SIZE", "LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE",
                "LOG_ACC_BUFF_SIZE", "CMD_QUEUE_DEPTH"):  # fmt: skip
        assert getattr(small, key) < getattr(default, key), key


def test_json_round_trip(cfg):
    again = HwConfig.from_dict(json.loads(cfg.to_json()), name=cfg.name)
    assert again == cfg
    assert again.fingerprint == cfg.fingerprint


def test_missing_key_is_named():
    d = load_config("default").to_dict()
    del d["LOG_BLOCK"]
    with pytest.raises(ConfigError, match="LOG_BLOCK"):
        HwConfig.from_dict(d)


def test_uop_too_wide_is_explained():
    d = load_config("default").to_dict()
    d["LOG_ACC_BUFF_SIZE"] = 22  # ACC index 16 bits -> micro-op needs > 32 bits
    with pytest.raises(ConfigError, match="micro-op needs"):
        HwConfig.from_dict(d)


def test_bad_types_and_unknown_names(tmp_path):
    d = load_config("default").to_dict()
    d["DRAM_LATENCY"] = "16"
    with pytest.raises(ConfigError, match="field DRAM_LATENCY: .16. is not of type .integer."):
        HwConfig.from_dict(d)
    with pytest.raises(ConfigError, match="no built-in hardware config 'nope'"):
        load_config("nope")
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(p)
