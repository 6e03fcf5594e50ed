"""The hand-timed programs of hw_sim's own timing tests (tests/hw_sim/test_hwsim_timing.py) run
on the RTL with identical DRAM, total cycles, counters and per-instruction timing.

Each hw_sim test is run as written (so its hand-derived cycle numbers are asserted too) with
its `simulate` recording the programs it builds; every recorded program is then cross-checked.
Their configs (a one-entry queue on a 1024-bit bus, 2-beat bursts, token latency 5) are three
extra builds, hence `slow`."""

from __future__ import annotations

import inspect

import pytest

import tests.hw_sim.test_hwsim_timing as timing_tests
from runtime.rtl_crosscheck import crosscheck

pytestmark = [pytest.mark.rtl, pytest.mark.slow]

# The tests that build and simulate programs (the others check formulas without a program).
SIMULATING = [
    name
    for name, fn in vars(timing_tests).items()
    if name.startswith("test_")
    and callable(fn)
    and not inspect.signature(fn).parameters
    and "simulate(" in inspect.getsource(fn)
]


def test_the_timing_tests_simulate_programs():
    assert len(SIMULATING) >= 5, SIMULATING


@pytest.mark.parametrize("name", SIMULATING)
def test_timing_test_program_agrees_with_rtl(name, monkeypatch):
    programs = []
    real = timing_tests.simulate

    def recording(prog, *args, **kwargs):
        programs.append(prog)
        return real(prog, *args, **kwargs)

    monkeypatch.setattr(timing_tests, "simulate", recording)
    getattr(timing_tests, name)()
    assert programs, f"{name} simulated no program"
    for i, prog in enumerate(programs):
        res = crosscheck(prog)
        assert res.ok, f"{name}, program {i} (config {prog.cfg.name}): {res.report()}"
