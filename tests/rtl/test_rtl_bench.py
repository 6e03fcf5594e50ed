"""`scripts/bench_rtl.py --json` runs and reports the figures the issue names (speed itself is
measured by running the script, never asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.rtl


def test_bench_rtl_json_keys(capsys):
    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_rtl.py"
    spec = importlib.util.spec_from_file_location("bench_rtl", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--config", "small", "--repeat", "1", "--json", "--steady-n", "128"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hw_sim_cycles_per_s"] > 0 and doc["rtl_cycles_per_s"] > 0
    assert doc["speedup"] == doc["hw_sim_cycles_per_s"] / doc["rtl_cycles_per_s"]
    assert doc["cycles_equal"] is True and doc["steady_cycles_equal"] is True
    assert 0 < doc["rtl_fixed_s"] and doc["rtl_steady_cycles_per_s"] > doc["rtl_cycles_per_s"] / 10
    assert doc["steady_speedup"] > 0
    assert [r["program"] for r in doc["programs"]] == ["blocked_gemm_vt1", "blocked_gemm_vt2"]
    assert all(r["hw_sim_cycles"] == r["rtl_cycles"] > 0 for r in doc["programs"])
