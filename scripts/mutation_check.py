"""Planted bugs, one at a time, in a scratch copy of the repository: the tests chosen for each
must fail. Prints which mutations the tests catch and which survive (exit 1 if any survives).

    python scripts/mutation_check.py [--only NAME ...] [--list] [--json]

Each mutation is a literal (file, old text, new text) edit — small, realistic slips in the
simulator, the timing model, the fault and race checks, the dependency pass, quantization, the
CPU kernels and the VTA lowering — plus the test selection that should catch it; each selection
first runs on an unmutated copy and must pass there (so a failure means the mutation was seen).
The copy lives in a temporary folder (the working tree is never edited); the RTL and LLVM
caches are shared, keyed by content, so a mutation rebuilds only what it changes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".ruff_cache", "build",
                                "out", "*.egg-info", ".hypothesis", "*.vtaprog")  # fmt: skip

# name: (file, old, new, pytest arguments)
MUTATIONS: dict[str, tuple[str, str, str, list[str]]] = {
    "alu_shift_clip": (
        "hw_sim/functional.py", "right = a64 >> np.clip(b64, 0, 31)",
        "right = a64 >> np.clip(b64, 0, 30)", ["tests/hw_sim/test_hwsim_functional.py"],
    ),
    "alu_kernel_outer_offset": (  # the next outer iteration starts from the stale offset
        "hw_sim/alu_kernel.py", "%bd_w = select i1 %wi0, i64 %od_n, i64 %bd1",
        "%bd_w = select i1 %wi0, i64 %od, i64 %bd1", ["tests/hw_sim/test_hwsim_alu_paths.py"],
    ),
    "alu_repeated_add": (
        "hw_sim/functional.py", "return alu_apply(op, a, (c * imm).astype(np.int32))",
        "return alu_apply(op, a, ((c - 1) * imm + imm * (c > 1)).astype(np.int32))",
        ["tests/hw_sim/test_hwsim_alu_paths.py"],
    ),
    "gemm_repeat_multiplier": (
        "hw_sim/gemm_paths.py", "sums = (sums.astype(np.int64) & 0xFFFFFFFF) * times",
        "sums = (sums.astype(np.int64) & 0xFFFFFFFF) * max(1, times - 1)",
        ["tests/hw_sim/test_hwsim_alu_paths.py"],
    ),
    "timing_tensor_alu": (
        "hw_sim/timing.py", "return max(1, (n if insn.use_imm else 2 * n) + self.alu_pipe)",
        "return max(1, n + self.alu_pipe)", ["tests/hw_sim/test_hwsim_schedule_reference.py"],
    ),
    "timing_token_latency": (
        "hw_sim/simulator.py", "push_avail[c].append(e + tok_lat)", "push_avail[c].append(e)",
        ["tests/hw_sim/test_hwsim_timing.py", "tests/hw_sim/test_hwsim_schedule_reference.py"],
    ),
    "stream_check_skips_loops": (
        "hw_sim/stream_checks.py", "functional._check_loop(st, insn, functional.Where(k, insn))",
        "None", ["tests/rtl/test_rtl_fault_model.py"],
    ),
    "race_ignores_tokens": (
        "hw_sim/races.py", "vc = [max(a, b) for a, b in zip(vc, clock",
        "vc = [max(a, b + 10**9) for a, b in zip(vc, clock", ["tests/hw_sim/test_hwsim_races.py"],
    ),
    "schema_queue_depth": (
        "hw_sim/schemas.py", '"CMD_QUEUE_DEPTH": (1, 1 << 16),', '"CMD_QUEUE_DEPTH": (1, 1 << 40),',
        ["tests/hw_sim/test_hwsim_hostile_files.py"],
    ),
    "deps_drop_push": (
        "compiler/vta/deps.py", '                            flags[j]["push_next"] = True\n',
        "", ["tests/compiler/test_vta_deps.py", "tests/compiler/test_vta_ops_sim.py", "-k",
             "deps or C11 or dense"],
    ),
    "requantize_rounding": (
        "compiler/graph/ref/vtac_ops.py", "acc = (acc + (1 << (shift - 1))) >> shift",
        "acc = (acc + (1 << (shift - 1)) - 1) >> shift", ["tests/graph/test_quantize.py"],
    ),
    "cpu_conv_kh_kw_swap": (
        "compiler/cpu/conv2d.py", "(ky, s.kh, ForKind.SERIAL),", "(ky, s.kw, ForKind.SERIAL),",
        ["tests/cpu/test_conv.py", "-k", "non_square"],
    ),
    "vta_bias_digit_dropped": (
        "compiler/te/ops/layout.py", "    per[:, lanes] = r\n", "    per[:, lanes] = 0\n",
        ["tests/compiler/test_vta_ops_sim.py", "-k", "dense or C11"],
    ),
}  # fmt: skip


def _apply(scratch: Path, name: str) -> None:
    rel, old, new, _ = MUTATIONS[name]
    path = scratch / rel
    text = path.read_text()
    if text.count(old) != 1:
        found = text.count(old)
        raise SystemExit(f"mutation {name}: expected its text once in {rel}, found it {found} "
                         "times (the code changed: update the mutation)")  # fmt: skip
    path.write_text(text.replace(old, new))


def run_one(name: str | None, timeout_s: float, tests: list[str] | None = None) -> dict:
    """Apply mutation `name` (None: none, the baseline) to a fresh scratch copy and run its
    tests; returns the outcome ("caught" = the tests failed)."""
    tests = MUTATIONS[name][3] if name else tests
    with tempfile.TemporaryDirectory(prefix=f"vtac_mut_{name or 'baseline'}_") as d:
        scratch = Path(d) / "repo"
        shutil.copytree(ROOT, scratch, ignore=IGNORE)
        if name:
            _apply(scratch, name)
        env = os.environ | {"PYTHONPATH": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True,
                                  timeout=timeout_s)  # fmt: skip
            code = proc.returncode
            tail = (proc.stdout.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            code, tail = -1, f"timed out after {timeout_s:.0f} s"
    status = "caught" if code == 1 else "survived" if code == 0 else "error"
    seconds = round(time.monotonic() - t0, 1)
    label = name or "baseline " + " ".join(tests)
    return {"mutation": label, "status": status, "exit": code, "seconds": seconds, "tests": tail}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(MUTATIONS), help="run these only")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per mutation")
    args = ap.parse_args(argv)
    if args.list:
        for name, (rel, _, _, tests) in MUTATIONS.items():
            print(f"{name:26s} {rel:34s} {' '.join(tests)}")
        return 0
    names = args.only or list(MUTATIONS)
    # Each test selection must pass on the unmutated copy, else a "caught" means nothing.
    for tests in dict.fromkeys(tuple(MUTATIONS[n][3]) for n in names):
        base = run_one(None, args.timeout, list(tests))
        if base["status"] != "survived":
            print(f"baseline fails: {' '.join(tests)}: {base['tests']}", file=sys.stderr)
            return 2
    results = []
    for name in names:
        r = run_one(name, args.timeout)
        results.append(r)
        if not args.json:
            print(f"{r['status']:8s} {name:26s} {r['seconds']:7.1f} s  {r['tests']}", flush=True)
    survived = [r["mutation"] for r in results if r["status"] != "caught"]
    if args.json:
        print(json.dumps({"results": results, "survived": survived}, indent=2))
    else:
        print(f"{len(results) - len(survived)} of {len(results)} mutations caught"
              + (f"; not caught: {', '.join(survived)}" if survived else ""))  # fmt: skip
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
