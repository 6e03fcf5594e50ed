"""The closed-form stream features agree with the compiled programs they summarize."""

from __future__ import annotations

import pytest

from compiler.schedule.vta_gemm import Knobs
from compiler.tune.features import STREAM_FEATURES, stream_features
from compiler.tune.space import VtaSpace
from compiler.tune.task import layer_task, useful_gemm_uops
from compiler.vta.build import build
from compiler.vta.intrin import uop_fold_split, uop_kernel_budget
from tests.tune.fake import tiny_task

pytestmark = pytest.mark.sim


@pytest.mark.parametrize(
    "layer, knobs",
    [
        ("tiny", Knobs(tile_h=2, tile_w=8, h_threading=2)),
        ("tiny", Knobs(tile_h=4, tile_w=4, tile_co=2, oc_threading=2, uop_split=1)),
        ("C12", Knobs(tile_h=7, tile_w=7, tile_ci=16, tile_co=4, uop_split=-1)),
        ("tiny", Knobs(tile_h=2, tile_w=4, w_threading=2, tile_order="h_w_co", bias_on="alu")),
    ],
)
def test_gemm_instruction_count_and_useful_share(layer, knobs):
    task = tiny_task() if layer == "tiny" else layer_task(layer)
    sp = VtaSpace(task)
    assert sp.check_knobs(knobs) is None
    f = dict(zip(STREAM_FEATURES, stream_features(sp, knobs), strict=True))
    kern = build(sp.op_for(knobs), task.hw, knobs)
    gemms = [i for i in kern.program.insns if type(i).__name__ == "GemmInsn" and not i.reset]
    tiles, steps = round(2 ** f["log_tiles"] - 1), round(2 ** f["log_steps"] - 1)
    per_step = round(2 ** f["log_gemm_insns_step"] - 1)
    # the bias GEMM nest (b, co, y, x rows) is folded too, with the same uop_split shift
    exts = [e for e in (knobs.tile_b, knobs.tile_co, knobs.tile_h, knobs.tile_w) if e > 1]
    p = min(max(0, uop_fold_split(exts, uop_kernel_budget(task.hw)) + knobs.uop_split), len(exts))
    per_tile = 1
    for e in exts[:p]:
        per_tile *= e
    bias = 0 if knobs.bias_on == "alu" else tiles * per_tile
    assert len(gemms) == tiles * steps * per_step + bias
    assert tiles * steps * round(2 ** f["log_gemm_uops_step"] - 1) == useful_gemm_uops(task)
