"""The random token-pattern programs of hw_sim's own scheduler tests (random push/pop flags,
leftover tokens, shallow queues, short bursts) run on the RTL with the same per-instruction
timing and counters. Two extra builds, hence `slow`."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.config import HwConfig, load_config
from hw_sim.errors import SimError
from hw_sim.simulator import simulate
from runtime.rtl_device import run_rtl
from tests.conftest import sweep_size
from tests.hw_sim.test_hwsim_schedule_reference import random_program


@pytest.fixture(autouse=True)
def _timing_programs_race(monkeypatch):
    """These random token patterns test scheduling, not data: they do not order every SRAM
    access, so the suite-wide race detector is off here."""
    monkeypatch.setenv("VTAC_CHECK_RACES", "0")


pytestmark = [pytest.mark.rtl, pytest.mark.slow]


@pytest.mark.parametrize("depth, burst", [(2, 1), (4, 8)])
def test_scheduler_programs_time_alike(depth, burst):
    cfg = HwConfig.from_dict(
        load_config("small").to_dict() | {"CMD_QUEUE_DEPTH": depth, "MAX_BURST_BEATS": burst},
        name=f"small-d{depth}-b{burst}",
    )
    rng = np.random.default_rng(11)
    compared = 0
    for _ in range(sweep_size(40)):
        prog = random_program(cfg, rng, int(rng.integers(3, 40)))
        try:
            hw = simulate(prog)
        except SimError:  # deadlocked or pending at FINISH: not a valid program
            continue
        stats, sched = run_rtl(prog, prog.dram.copy(), trace=True)
        # Data may differ (these programs race on SRAM rows); timing and counters may not.
        assert (sched.dispatch, sched.start, sched.end) == (
            hw.schedule.dispatch,
            hw.schedule.start,
            hw.schedule.end,
        )
        assert stats.counters() == hw.stats.counters()
        compared += 1
    assert compared >= sweep_size(40) // 4
