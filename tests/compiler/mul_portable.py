"""What a program using the ALU's MUL must satisfy: the same DRAM under every OUT-buffer
semantics, and no broken portability rule but `alu-subset` findings that name MUL."""

from __future__ import annotations

from hw_sim.portability import check_portable


def assert_portable_but_mul(program, dram, name: str) -> int:
    """`check_portable` finds exactly the MUL micro-op instructions; returns how many."""
    report = check_portable(program, dram=dram)
    assert report.dram_equal and not report.errors, f"{name}:\n{report.summary()}"
    broken = {rule: n for rule, n in report.counts.items() if n}
    assert set(broken) <= {"alu-subset"}, f"{name}:\n{report.summary()}"
    assert all("MUL" in v.message for v in report.violations), f"{name}:\n{report.summary()}"
    return broken.get("alu-subset", 0)
