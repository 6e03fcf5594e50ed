"""build(): debug levels, errors that name the culprit, and the layer benchmark's JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler.schedule.schedule import ScheduleError
from compiler.schedule.vta_gemm import Knobs
from compiler.schedule.vta_heuristic import default_knobs, fits
from compiler.vta.build import build, vta_pipeline
from compiler.vta.ops import conv2d_op, dense_op

ROOT = Path(__file__).resolve().parents[2]


def test_debug_levels_print_passes_ir_and_listing(cfg, monkeypatch, capsys):
    op = dense_op(cfg, 1, 2 * cfg.block_in, 2 * cfg.block_out)
    monkeypatch.setenv("VTAC_DEBUG", "3")
    kern = build(op, cfg)
    err = capsys.readouterr().err
    steps = ["schedule", "lower", *(p.name for p in vta_pipeline(cfg).passes)]
    steps += ["codegen", "insert_dep_tokens"]
    assert [name for name, _ in kern.pass_times] == steps
    for name in steps:
        assert f"[vta] {name}:" in err
    assert "[lower] dense" in err and "vta.uop_kernel" in err
    assert "GEMM" in err and "FINISH" in err  # the instruction listing


def test_bad_knobs_name_the_knob(cfg):
    op = conv2d_op(cfg, 1, cfg.block_in, 6, 6, cfg.block_out, 3, 1, 1)
    with pytest.raises(ScheduleError, match="tile_h=4 must divide 6"):
        build(op, cfg, Knobs(tile_h=4))
    with pytest.raises(ScheduleError, match="h_threading=2"):
        build(op, cfg, Knobs(tile_h=2, h_threading=2))  # 3 row tiles: odd


def test_default_knobs_fit_and_are_deterministic(cfg):
    op = conv2d_op(cfg, 1, 64, 28, 28, 128, 3, 1, 1)
    k = default_knobs(op, cfg)
    assert fits(op, cfg, k) and k.vthreads == 2
    assert default_knobs(op, cfg) == k
    assert default_knobs(op, cfg, vthreads=False).vthreads == 1


def test_pack_inputs_checks_names(cfg):
    op = dense_op(cfg, 1, cfg.block_in, cfg.block_out, bias=True)
    kern = build(op, cfg)
    x = np.zeros((1, cfg.block_in), np.int8)
    with pytest.raises(ValueError, match="missing kernel, bias"):
        kern.pack_inputs(data=x)
    assert kern.input_names == ["data", "kernel", "bias"]
    assert kern.buffer_names == ["data", "kernel", "bias_row", "bias_digits"]


def test_gemm_bias_out_of_range_says_what_to_use(cfg):
    op = dense_op(cfg, 1, cfg.block_in, cfg.block_out, bias=True)
    kern = build(op, cfg)
    z = np.zeros((cfg.block_out, cfg.block_in), np.int8)
    huge = np.full(cfg.block_out, 2**30, np.int32)
    with pytest.raises(ValueError, match="use the ALU bias"):
        kern.pack_inputs(data=z[:1], kernel=z, bias=huge)


@pytest.mark.sim
def test_bench_layers_json(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_layers

    out = tmp_path / "roof.png"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = bench_layers.main(["--json", "--layers", "C11", "C12", "--plot", str(out)])
    d = json.loads(buf.getvalue())
    assert {"peak_utilization", "mean_utilization", "layers", "portable"} <= set(d)
    # every benchmarked kernel gives the same DRAM under chisel, hls and fsim
    assert d["portable"] is True and rc == 0
    assert all(lay["portable"] and lay["portable_without_vt"] for lay in d["layers"])
    assert [lay["name"] for lay in d["layers"]] == ["C11", "C12"]
    assert d["bias_on"] == "gemm"
    for lay in d["layers"]:
        assert {"name", "cycles", "utilization", "utilization_without_vt"} <= set(lay)
        assert 0 < lay["utilization"] <= 1 and lay["cycles"] > 0
        # the conv's own micro-ops are a subset of what keeps the GEMM unit busy
        assert lay["utilization"] < lay["gemm_busy"] <= 1
        assert lay["utilization_without_vt"] < lay["gemm_busy_without_vt"] <= 1
    assert d["peak_utilization"] == max(lay["utilization"] for lay in d["layers"])
    assert out.stat().st_size > 0


def test_gemm_bias_range_is_exact(cfg):
    """`bias_digits` reconstructs every bias inside `gemm_bias_range` and refuses one past it."""
    from compiler.te.ops.layout import bias_digits, gemm_bias_range

    lo, hi = gemm_bias_range(cfg.block_in)
    bias = np.array([lo, lo + 1, -1, 0, 1, 126, 127, hi - 1, hi], np.int64)
    row, digits = bias_digits(bias, cfg.batch, cfg.block_out, cfg.block_in)
    got = np.einsum("bk,gok->gbo", row.astype(np.int64), digits.astype(np.int64))
    np.testing.assert_array_equal(got[:, 0, :].reshape(-1)[: bias.size], bias)
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValueError, match="use the ALU bias"):
            bias_digits(np.array([bad]), cfg.batch, cfg.block_out, cfg.block_in)
