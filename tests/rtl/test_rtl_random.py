"""Random valid programs: hw_sim invariants (no RTL needed) and hw_sim == RTL equality.

The number of programs per config compared against the RTL is `VTAC_RTL_PROGRAMS` (default 12;
the resolution sweep used 500+); seeds start at `VTAC_RTL_SEED` (default 0).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from hw_sim.random_programs import random_program
from hw_sim.simulator import simulate
from runtime.rtl_crosscheck import crosscheck
from tests.conftest import sweep_size


def _n_programs() -> int:
    return int(os.environ.get("VTAC_RTL_PROGRAMS", "12"))


@pytest.mark.sim
def test_random_programs_are_valid_and_balanced(cfg):
    for seed in range(sweep_size(30)):
        prog = random_program(cfg, seed)
        res = simulate(prog)  # raises on any invalid field, range, deadlock or pending insn
        st = res.stats
        assert all(v == 0 for v in st.tokens_left.values()), f"seed {seed}: {st.tokens_left}"
        for m, classes in st.modules.items():
            total = sum(v for k, v in classes.items() if k != "insns")
            assert total == st.total_cycles, f"seed {seed}: {m} classes sum to {total}"
        again = simulate(random_program(cfg, seed))
        assert again.stats.counters() == st.counters() and np.array_equal(again.dram, res.dram)


@pytest.mark.rtl
def test_random_programs_agree_with_rtl(cfg):
    first = int(os.environ.get("VTAC_RTL_SEED", "0"))
    failures = []
    for seed in range(first, first + _n_programs()):
        res = crosscheck(random_program(cfg, seed))
        if not res.ok:
            failures.append(f"seed {seed}: {res.report()}")
    assert not failures, "\n".join(failures)
