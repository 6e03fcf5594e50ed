"""The accelerator knob space: point <-> knobs, and the reasons points are filtered."""

from __future__ import annotations

import itertools
from collections import Counter

from compiler.schedule.vta_gemm import Knobs
from compiler.schedule.vta_heuristic import default_knobs
from compiler.tune.space import REASONS, VtaSpace
from compiler.tune.task import layer_task, task_key_from_op
from tests.tune.fake import tiny_task


def test_points_and_knobs_round_trip():
    sp = VtaSpace(tiny_task())
    for p in itertools.islice(itertools.product(*(range(n) for n in sp.sizes)), 0, None, 97):
        assert sp.point(sp.knobs(p)) == p
        assert sp.from_index(sp.index(p)) == p


def test_heuristic_point_is_valid_for_every_vta_layer():
    for name in ("C2", "C5", "C12"):
        t = layer_task(name)
        sp = VtaSpace(t)
        k = default_knobs(t.build_op(), t.hw)
        assert sp.check_knobs(Knobs.from_dict(k.to_dict() | {"bias_on": "gemm"})) is None


def test_invalid_reasons_are_counted_and_named():
    sp = VtaSpace(layer_task("C6"))
    reasons = Counter(sp.check(p) for p in itertools.product(*(range(n) for n in sp.sizes)))
    assert set(reasons) - {None} <= set(REASONS)
    for r in ("threading", "sram_inp", "sram_acc", "sram_wgt", "duplicate"):
        assert reasons[r] > 0, r
    big = Knobs(tile_h=28, tile_w=28, tile_co=8, tile_ci=8, h_threading=1)
    assert sp.check_knobs(big) in ("sram_acc", "sram_inp", "sram_wgt")
    odd = Knobs(tile_h=4, tile_w=28, h_threading=2)  # 7 row tiles: odd
    assert sp.check_knobs(odd) == "threading"


def test_duplicates_collapse_equivalent_programs():
    sp = VtaSpace(tiny_task())
    # one output-channel tile: "co_h_w" and "h_co_w" nest the same loops
    k = Knobs(tile_h=2, tile_w=8, tile_co=4, tile_order="h_co_w")
    assert sp.check_knobs(k) == "duplicate"
    assert sp.check_knobs(Knobs(tile_h=2, tile_w=8, tile_co=4)) is None


def test_task_key_ignores_bias_placement_and_name():
    t = tiny_task()
    assert task_key_from_op(t.build_op("alu"), t.hw) == t.key
    assert tiny_task("small").key != t.key


def test_unequal_strides_and_kernels_round_trip_through_a_task():
    """A 2x1-strided conv with a 3x5 kernel: its task rebuilds the same operator (same key),
    and the heuristic's knobs are a valid point whose input tile uses each axis' stride."""
    from compiler.driver.model_tasks import _task_of
    from compiler.vta.ops import conv2d_op
    from hw_sim.config import load_config

    cfg = load_config("default")
    op = conv2d_op(cfg, 1, 16, 10, 12, 32, (3, 5), (2, 1), 1, name="c21")
    assert (op.workload["k"], op.workload["kw"]) == (3, 5)
    assert (op.workload["stride"], op.workload["stride_w"]) == (2, 1)
    assert (op.workload["oh"], op.workload["ow"]) == (5, 10)
    square = conv2d_op(cfg, 1, 16, 10, 12, 32, 3, 2, 1)
    assert "kw" not in square.workload and "stride_w" not in square.workload
    t = _task_of(op, cfg, "c21")
    assert t.key == task_key_from_op(op, cfg)
    assert t.build_op().output.shape == op.output.shape
    k = default_knobs(t.build_op(), t.hw)
    assert VtaSpace(t).check_knobs(Knobs.from_dict(k.to_dict() | {"bias_on": "gemm"})) is None
