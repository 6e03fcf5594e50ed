"""Seeded fuzzed programs (hw_sim/fuzz_programs.py) on hw_sim and the RTL: the same outcome
class on both (finished, or the same hw_sim.errors class), never a crash. VTAC_SWEEP scales the
count; VTAC_FUZZ_SEED moves the seeds."""

from __future__ import annotations

import os

import pytest

from hw_sim.errors import SimError
from hw_sim.fuzz_programs import FAMILIES, fuzz_case
from hw_sim.isa import MalformedInstruction
from hw_sim.simulator import simulate
from runtime.rtl_device import run_rtl
from tests.conftest import sweep_size

pytestmark = pytest.mark.rtl


def outcome_class(run) -> str:
    """'ok' or the SimError class; anything else propagates (a crash is a failure)."""
    try:
        run()
    except SimError as e:
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("family", FAMILIES)
def test_fuzzed_programs_same_outcome_on_both_devices(default_cfg, family):
    first = int(os.environ.get("VTAC_FUZZ_SEED", "0"))
    seen = {}
    for seed in range(first, first + sweep_size(6)):
        case = fuzz_case(default_cfg, family, seed)
        if isinstance(case, MalformedInstruction):  # refused when decoded, before any device
            continue
        hw = outcome_class(lambda case=case: simulate(case, check_races=False))  # fuzz: racy
        rtl = outcome_class(lambda case=case: run_rtl(case, case.dram.copy()))
        assert hw == rtl, f"{family} seed {seed}: hw_sim {hw}, RTL {rtl}"
        seen[hw] = seen.get(hw, 0) + 1
    assert seen or family == "words"
