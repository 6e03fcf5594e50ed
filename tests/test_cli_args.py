"""Bad arguments and paths are refused in one line naming the rule; an unknown option shows the
usage of the subcommand it was given to."""

from __future__ import annotations

import pytest

from runtime.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--block", "0"], "argument --block: must be a positive integer, got 0"),
        (["demo", "--n", "0"], "argument --n: must be a positive integer, got 0"),
        (["demo", "--max-cycles", "-5"], "argument --max-cycles: must be a positive integer"),
        (["demo", "--timeout", "nan"], "argument --timeout: must be a positive number"),
        (["rtl", "crosscheck", "--random", "-3"], "argument --random: must be a positive"),
        (["sim", "."], "argument file: . is a directory, not a file"),
        (["disasm", "/nonexistent.vtaprog"], "no such file"),
        (["rtl", "run", "."], "is a directory"),
        (["demo", "--save", "/nonexistent/x.vtaprog"], "folder /nonexistent does not exist"),
        (["demo", "--trace", "."], "is a directory; give a file name"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_demo_names_the_real_rule(capsys):
    assert main(["demo", "--n", "100"]) == 1
    assert "n 100 must be a multiple of block 64" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["sim", "README.md", "--bogus"], ["rtl", "run", "--bogus", "README.md"]]
)
def test_unknown_option_prints_the_subcommands_usage(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    sub = " ".join(argv[:2]) if argv[0] == "rtl" else argv[0]
    assert f"usage: vtac {sub}" in err and "unrecognized arguments: --bogus" in err


def test_sim_prints_stats_before_a_failed_trace_write(tmp_path, capsys, monkeypatch):
    """The trace is written after the stats: a write that fails (disk full, a folder removed
    meanwhile) costs one line, not the run's report."""
    import hw_sim.trace

    prog = tmp_path / "p.vtaprog"
    assert main(["demo", "--n", "64", "--save", str(prog)]) == 0
    capsys.readouterr()

    def full_disk(result, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hw_sim.trace, "write_trace", full_disk)
    assert main(["sim", str(prog), "--trace", str(tmp_path / "t.json")]) == 1
    out = capsys.readouterr()
    assert "total cycles" in out.out
    assert out.err.strip().endswith("No space left on device") and "Traceback" not in out.err
