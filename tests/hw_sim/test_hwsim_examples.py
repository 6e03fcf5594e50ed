"""Every example program (VTA's unit tests, blocked GEMM, small-instruction stream) runs to
FINISH bit-exactly against its NumPy reference, at both configs; counters add up."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.examples import EXAMPLES, blocked_gemm
from hw_sim.isa import insn_module
from hw_sim.simulator import simulate
from hw_sim.stats import MODULES

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_bit_exact(name, cfg, rng):
    prog, expected = EXAMPLES[name](cfg, rng)
    result = simulate(prog)
    for buf, want in expected.items():
        got = prog.read_buffer(result.dram, buf)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=f"{name}: buffer {buf}")
    stats = result.stats
    for m in MODULES:
        counters = {k: v for k, v in stats.modules[m].items() if k != "insns"}
        assert sum(counters.values()) == stats.total_cycles, (m, counters)
        assert min(counters.values()) >= 0
    assert stats.modules["fetch"]["insns"] == len(prog.insns)
    assert sum(stats.modules[m]["insns"] for m in MODULES[1:]) == len(prog.insns)
    assert stats.tokens_left == dict.fromkeys(stats.tokens_left, 0)
    assert result.schedule.module == [int(insn_module(i)) for i in prog.insns]


def test_input_data_is_not_trivial(cfg, rng):
    """The references are not all zeros (a broken program could pass on zero data)."""
    for name, gen in EXAMPLES.items():
        _, expected = gen(cfg, rng)
        assert any(np.any(v != 0) for v in expected.values()), name


def test_blocked_gemm_two_threads_hide_latency(cfg, capsys):
    """VTA's latency-hiding claim on its own hardware test: 2 virtual threads need fewer
    cycles than 1 on the 256x256 blocked GEMM (64x64 tiles)."""
    runs = {}
    for vt in (1, 2):
        prog, expected = blocked_gemm(cfg, np.random.default_rng(7), virtual_threads=vt)
        result = simulate(prog)
        np.testing.assert_array_equal(prog.read_buffer(result.dram, "C"), expected["C"])
        runs[vt] = result.stats
    assert runs[1].gemm_uops == runs[2].gemm_uops == (256 // cfg.batch) * (256 // cfg.block) ** 2
    assert runs[2].total_cycles < runs[1].total_cycles
    assert runs[2].utilization() > runs[1].utilization()
    with capsys.disabled():
        print(
            f"\n[{cfg.name}] blocked GEMM 256x256/64: vt1 {runs[1].total_cycles} cycles, "
            f"utilization {runs[1].utilization():.1%}; vt2 {runs[2].total_cycles} cycles, "
            f"utilization {runs[2].utilization():.1%}"
        )


def test_demo_program_rejects_tiles_that_do_not_fit(cfg, rng):
    with pytest.raises(ValueError, match=r"needs \d+ INP rows, the buffer has"):
        blocked_gemm(cfg, rng, n=1024, block=512)
