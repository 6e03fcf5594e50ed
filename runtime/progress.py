"""Progress for long, otherwise silent subprocesses (the first RTL build, Yosys synthesis).

`run_with_progress` runs a command while a tqdm bar on stderr shows the elapsed time against
the expected duration and, when the tool writes a log, the step it is in (Yosys: its current
pass). The bar draws only on a terminal (tqdm's `disable=None`), so logs and tests stay clean.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

POLL_S = 0.25
_STEP = re.compile(rb"^\s*\d+(?:\.\d+)*\. Executing ([A-Za-z0-9_ -]+?)(?: pass)?[ .(]")


def _last_step(log: Path | None) -> str | None:
    """The last 'N. Executing X pass' of a Yosys log (read from its tail)."""
    if log is None or not log.exists():
        return None
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - 65536))
        tail = f.read()
    steps = [m.group(1) for line in tail.splitlines() if (m := _STEP.match(line))]
    return steps[-1].decode(errors="replace").strip() if steps else None


def run_with_progress(
    cmd: list[str],
    *,
    desc: str,
    expected_s: float,
    cwd: Path | None = None,
    env: dict | None = None,
    timeout: float | None = None,
    log: Path | None = None,
) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True, text=True, timeout=...)` with a progress bar.

    On timeout the process (only it) is killed and `subprocess.TimeoutExpired` raised."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        t0 = time.monotonic()
        bar = tqdm(total=round(expected_s), desc=desc, unit="s", leave=False, disable=None,
                   bar_format="{desc}: {bar} {n:.0f}/~{total:.0f} s {postfix}")  # fmt: skip
        try:
            while proc.poll() is None:
                elapsed = time.monotonic() - t0
                if timeout is not None and elapsed > timeout:
                    proc.kill()
                    proc.wait()
                    raise subprocess.TimeoutExpired(cmd, timeout)
                bar.n = min(elapsed, bar.total * 0.99)
                step = _last_step(log)
                if step:
                    bar.set_postfix_str(step, refresh=False)
                bar.refresh()
                time.sleep(POLL_S)
        finally:
            bar.close()
            if proc.poll() is None:  # interrupted: do not leave the tool running
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            cmd, proc.returncode, out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )  # fmt: skip
