"""run_with_progress: the result of subprocess.run, the timeout kills only its process, the
Yosys step parser."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from runtime.progress import _last_step, run_with_progress


def test_result_like_subprocess_run(tmp_path):
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    proc = run_with_progress([sys.executable, "-c", code], desc="t", expected_s=1)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")


def test_timeout_kills_the_process():
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_with_progress([sys.executable, "-c", "import time; time.sleep(30)"], desc="t",
                          expected_s=1, timeout=0.5)  # fmt: skip
    assert time.monotonic() - t0 < 10


def test_yosys_step_from_log(tmp_path):
    log = tmp_path / "yosys.log"
    log.write_text("1. Executing Verilog-2005 frontend: a.v\n2.3. Executing ABC pass (technology"
                   " mapping).\nsome output\n")  # fmt: skip
    assert _last_step(log) == "ABC"
    assert _last_step(tmp_path / "none.log") is None
