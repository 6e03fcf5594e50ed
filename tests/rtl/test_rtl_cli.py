"""`vtac rtl ...`: run, crosscheck (agreement and a reported divergence), build, lint, and the
errors a user can cause."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from runtime.cli import main

pytestmark = pytest.mark.rtl


@pytest.fixture
def program_file(tmp_path, capsys):
    path = tmp_path / "g.vtaprog"
    assert main(["demo", "--config", "small", "--n", "128", "--save", str(path)]) == 0
    capsys.readouterr()
    return path


def test_run_matches_sim(program_file, capsys):
    assert main(["sim", str(program_file), "--json"]) == 0
    hw = json.loads(capsys.readouterr().out)
    assert main(["rtl", "run", str(program_file), "--json"]) == 0
    rtl = json.loads(capsys.readouterr().out)
    assert rtl.pop("wall_s") > 0
    assert rtl == {k: v for k, v in hw.items() if k in rtl}
    assert rtl["total_cycles"] == hw["total_cycles"] > 0


def test_crosscheck_agrees(program_file, capsys):
    assert main(["rtl", "crosscheck", str(program_file)]) == 0
    assert "hw_sim and RTL agree" in capsys.readouterr().out
    assert main(["rtl", "crosscheck", "--example", "gemm", "--config", "small"]) == 0
    assert "1 of 1 programs agree" in capsys.readouterr().out
    assert main(["rtl", "crosscheck", "--random", "2", "--seed", "5", "--config", "small"]) == 0
    assert "2 of 2 programs agree" in capsys.readouterr().out


def test_crosscheck_names_the_diverging_instruction(program_file, capsys, monkeypatch):
    from hw_sim.simulator import simulate
    from runtime import rtl_crosscheck

    def late_run(program, dram, max_cycles=None, trace=False, timeout=None):
        res = simulate(program)
        dram[...] = res.dram
        sched = replace(res.schedule, end=list(res.schedule.end))
        sched.end[3] += 1
        return res.stats, sched

    monkeypatch.setattr(rtl_crosscheck, "run_rtl", late_run)
    assert main(["rtl", "crosscheck", str(program_file)]) == 1
    out = capsys.readouterr().out
    assert "DIVERGE" in out and "timing:   instruction 3 (" in out


def test_build_and_lint(capsys):
    assert main(["rtl", "build", "--config", "small"]) == 0
    assert "vtac_rtl_sim" in capsys.readouterr().out
    assert main(["rtl", "lint", "--config", "small"]) == 0
    assert "clean" in capsys.readouterr().out


def test_user_errors(tmp_path, capsys):
    bad = tmp_path / "bad.vtaprog"
    bad.write_bytes(b"garbage")
    assert main(["rtl", "run", str(bad)]) == 1
    assert "bad.vtaprog" in capsys.readouterr().err
    assert main(["rtl", "crosscheck"]) == 2
    assert "one of FILE, --example NAME or --random N" in capsys.readouterr().err
    assert main(["rtl", "crosscheck", "--example", "nope", "--config", "small"]) == 1
    assert "no example 'nope'" in capsys.readouterr().err
    assert main(["rtl", "lint", "--config", "no-such-config"]) == 1
    assert "no-such-config" in capsys.readouterr().err
    assert main(["rtl", "synth", "--top", "vta_gemm_core"]) == 1
    assert "vta_gemm_core" in capsys.readouterr().err
