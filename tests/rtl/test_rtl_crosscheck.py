"""The cross-check names the first diverging instruction, buffer element and STORE."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hw_sim.examples import EXAMPLES
from hw_sim.simulator import simulate
from runtime.rtl_crosscheck import first_dram_divergence, first_timing_divergence


def _gemm(cfg):
    prog, _ = EXAMPLES["gemm"](cfg, np.random.default_rng(0))
    return prog, simulate(prog)


def test_timing_divergence_names_earliest_instruction(cfg):
    prog, res = _gemm(cfg)
    sched = res.schedule
    other = replace(sched, start=list(sched.start), end=list(sched.end))
    assert first_timing_divergence(prog, sched, other) is None
    late, early = len(prog.insns) - 1, 1
    other.end[late] += 5
    other.start[early] += 1
    text = first_timing_divergence(prog, sched, other)
    assert text.startswith(f"instruction {early} ") and "start" in text


def test_dram_divergence_names_buffer_element_and_store(cfg):
    prog, res = _gemm(cfg)
    out_name = "out"
    buf = prog.buffers[out_name]
    bad = res.dram.copy()
    bad[buf.offset + 1] ^= 0xFF
    text = first_dram_divergence(prog, res.dram, bad)
    assert f"buffer {out_name!r}" in text and "STORE" in text
    assert first_dram_divergence(prog, res.dram, res.dram.copy()) is None


def test_crosscheck_reports_a_faulty_device(cfg, monkeypatch):
    """End to end through `crosscheck`, with the RTL replaced by a hw_sim run whose timing,
    DRAM and counters are perturbed: every difference is reported."""
    from runtime import rtl_crosscheck

    prog, _ = EXAMPLES["gemm"](cfg, np.random.default_rng(0))
    victim = len(prog.insns) - 2

    def faulty_run(program, dram, max_cycles=None, trace=False, timeout=None):
        res = simulate(program)
        dram[...] = res.dram
        dram[program.buffers["out"].offset] ^= 1
        sched = replace(res.schedule, end=list(res.schedule.end))
        sched.end[victim] += 3
        res.stats.total_cycles += 3
        return res.stats, sched

    monkeypatch.setattr(rtl_crosscheck, "run_rtl", faulty_run)
    out = rtl_crosscheck.crosscheck(prog)
    assert not out.ok
    assert out.timing.startswith(f"instruction {victim} ")
    assert "buffer 'out'" in out.result
    assert any(c.startswith("total_cycles") for c in out.counters)
    assert "DIVERGE" in out.report()
