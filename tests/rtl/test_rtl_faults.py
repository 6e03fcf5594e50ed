"""Faulty programs on the RTL: a deadlock and a missing FINISH are reported (naming the stuck
instructions) instead of running to the cycle limit; a cycle limit raises the watchdog."""

from __future__ import annotations

import pytest

from hw_sim.builder import ProgramBuilder
from hw_sim.errors import DeadlockError, NoFinishError, WatchdogError
from hw_sim.isa import MemType, Module
from runtime.rtl_device import run_rtl

pytestmark = pytest.mark.rtl


def _deadlocked(cfg):
    b = ProgramBuilder(cfg)
    x = b.buffer("x", shape=(4, cfg.batch, cfg.block_in), dtype="int8")
    b.load(MemType.INP, sram=0, buf=x, y=1, x=2, pop_next=True)  # no g2l is ever pushed
    b.nop(Module.COMPUTE, pop_prev=True)
    b.finish()
    return b.build()


def test_deadlock_names_the_blocked_instructions(cfg):
    prog = _deadlocked(cfg)
    with pytest.raises(DeadlockError) as e:
        run_rtl(prog, prog.dram.copy())
    assert "instruction 0 (LOAD INP" in str(e.value) and "instruction 1" in str(e.value)
    assert e.value.blocked["store"].startswith("idle")


def test_missing_finish(cfg):
    b = ProgramBuilder(cfg)
    b.nop(Module.COMPUTE)
    prog = b.build()
    with pytest.raises(NoFinishError, match="none was FINISH"):
        run_rtl(prog, prog.dram.copy())


def test_cycle_limit_is_a_watchdog(cfg):
    prog = _deadlocked(cfg)
    with pytest.raises(WatchdogError):
        run_rtl(prog, prog.dram.copy(), max_cycles=5)


def test_wall_clock_timeout_stops_the_harness(default_cfg, rng):
    from hw_sim.errors import WallClockTimeoutError
    from hw_sim.examples import EXAMPLES
    from runtime.rtl_build import build

    build(default_cfg)  # a cached build: the limit is for the run
    prog = EXAMPLES["blocked_gemm_vt1"](default_cfg, rng)[0]
    with pytest.raises(WallClockTimeoutError, match=r"limit of 0.001 s \(timeout\)"):
        run_rtl(prog, prog.dram.copy(), timeout=0.001)
