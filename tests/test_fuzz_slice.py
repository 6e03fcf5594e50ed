"""A small seeded slice of scripts/fuzz.py: no tracebacks, no hangs, in every family (the RTL
comparison of the same generator is tests/rtl/test_rtl_fuzz.py). VTAC_SWEEP scales it."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import sweep_size

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def test_fuzz_slice_has_no_tracebacks_or_hangs():
    import fuzz

    report = fuzz.run(fuzz.ALL_FAMILIES, sweep_size(12), seed=7, with_rtl=False,
                      cfg_name="default", hang_s=10.0)  # fmt: skip
    assert report["tracebacks"] == 0, report["traceback_cases"]
    assert report["hangs"] == 0
    outcomes = {k for fam in report["families"].values() for k in fam["outcomes"]}
    assert {"ok", "ProgramFormatError", "error-line"} <= outcomes
