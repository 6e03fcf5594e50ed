"""Fuzz vtac as an attacker or a careless user would, and print the outcome counts as JSON.

    python scripts/fuzz.py [--cases N] [--seed S] [--rtl] [--families F ...] [--config C]

Families (seeded, deterministic): `fields`, `words`, `bitflips`, `heavy` (instruction streams
from hw_sim/fuzz_programs.py, run on hw_sim and, with --rtl, on the RTL too), `files` (mutated
.vtaprog files with a valid checksum: header values, body bytes, truncation) and `onnx` (the
hostile models of tests/frontend/hostile_models.py through `vtac inspect`, plus random byte
edits of a small valid model). Each case ends as an outcome class: `ok`, a `SimError` /
`ProgramFormatError` / `MalformedInstruction` class, `error-line` (a CLI's one-line error),
`error-report` (the unsupported-ops report, which lists every op by design) —
or `traceback` (an unexpected exception: a bug) or `hang` (over --hang-s wall seconds).

Targets: 0 tracebacks, 0 hangs, and with --rtl the same outcome class on hw_sim and the RTL.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw_sim.config import load_config  # noqa: E402
from hw_sim.errors import SimError, WallClockTimeoutError  # noqa: E402
from hw_sim.fuzz_programs import FAMILIES, fuzz_case  # noqa: E402
from hw_sim.isa import MalformedInstruction  # noqa: E402
from hw_sim.program import MAGIC, Program, ProgramFormatError  # noqa: E402
from hw_sim.simulator import simulate  # noqa: E402

ALL_FAMILIES = (*FAMILIES, "files", "onnx")
ODD_VALUES = [None, -1, 1.5, "3", [], {}, 10**30, float("nan"), True, "O", [[[]]], -(2**63)]


def _sim_outcome(prog: Program, hang_s: float) -> str:
    try:
        simulate(prog, timeout=hang_s, check_races=False)
    except WallClockTimeoutError:
        return "hang"
    except SimError as e:
        return type(e).__name__
    return "ok"


def _rtl_outcome(prog: Program) -> str:
    from runtime.rtl_device import run_rtl

    try:
        run_rtl(prog, prog.dram.copy())
    except SimError as e:
        return type(e).__name__
    return "ok"


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _mutated_file(cfg, rng) -> bytes:
    from hw_sim.examples import EXAMPLES

    names = [n for n in EXAMPLES if not n.startswith(("blocked", "small_insn"))]
    data = EXAMPLES[names[int(rng.integers(0, len(names)))]](cfg, rng)[0].to_bytes()
    (hlen,) = struct.unpack("<I", data[8:12])
    kind = int(rng.integers(0, 3))
    if kind == 0:  # an odd value somewhere in the header
        header = json.loads(data[12 : 12 + hlen])
        target = header
        if rng.random() < 0.4:
            target = header["config"]
        elif rng.random() < 0.4 and header["buffers"]:
            target = header["buffers"][0]
        key = sorted(target)[int(rng.integers(0, len(target)))]
        if rng.random() < 0.1:
            key = "unknown_key"
        target[key] = ODD_VALUES[int(rng.integers(0, len(ODD_VALUES)))]
        hjson = json.dumps(header).encode()
        return _with_crc(MAGIC + struct.pack("<I", len(hjson)) + hjson + data[12 + hlen : -4])
    body = bytearray(data[:-4])
    if kind == 1:  # bytes of the instructions or the DRAM image
        for _ in range(int(rng.integers(1, 6))):
            at = int(rng.integers(12 + hlen, len(body)))
            body[at] = int(rng.integers(0, 256))
        return _with_crc(bytes(body))
    cut = int(rng.integers(0, len(data)))  # truncated (the checksum no longer matches)
    return data[:cut]


def _file_outcome(data: bytes, hang_s: float) -> str:
    try:
        prog = Program.from_bytes(data, source="fuzz.vtaprog")
    except ProgramFormatError as e:
        return type(e).__name__
    return _sim_outcome(prog, hang_s)


def _cli_outcome(argv: list[str]) -> str:
    from runtime.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse usage errors
            code = e.code
    text = err.getvalue().strip()
    lines = text.splitlines()
    if code == 0:
        return "ok"
    if "Traceback" in text:
        return "traceback"
    if len(lines) == 1:
        return "error-line"
    # the unsupported-ops report lists every op, its nodes and the supported ones by design
    return (
        "error-report"
        if lines[0].startswith("vtac") and "unsupported op" in text
        else "error-lines"
    )


def _onnx_cases(folder: Path, n: int, rng):
    from tests.frontend.hostile_models import HOSTILE_MODELS, write_model

    names = sorted(HOSTILE_MODELS)
    for k in range(n):
        if k < len(names):
            yield names[k], write_model(names[k], folder)
            continue
        base = write_model(names[int(rng.integers(0, len(names)))], folder / f"m{k}")
        data = bytearray(base.read_bytes())
        for _ in range(int(rng.integers(1, 8))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        base.write_bytes(bytes(data))
        yield f"bytes-{k}", base


def run(families, cases: int, seed: int, with_rtl: bool, cfg_name: str, hang_s: float) -> dict:
    cfg = load_config(cfg_name)
    report: dict = {"config": cfg_name, "seed": seed, "cases_per_family": cases,
                    "hang_s": hang_s, "families": {}}  # fmt: skip
    mismatches, tracebacks = [], []
    for fam in families:
        counts: Counter = Counter()
        slowest = 0.0
        rng = np.random.default_rng([seed, ALL_FAMILIES.index(fam)])
        with tempfile.TemporaryDirectory(prefix="vtac_fuzz_") as d:
            items = (_onnx_cases(Path(d), cases, rng) if fam == "onnx"
                     else ((f"{fam}-{seed + k}", seed + k) for k in range(cases)))  # fmt: skip
            for label, item in items:
                t0 = time.monotonic()
                try:
                    if fam == "onnx":
                        outcome = _cli_outcome(["inspect", str(item)])
                    elif fam == "files":
                        outcome = _file_outcome(_mutated_file(cfg, rng), hang_s)
                    else:
                        case = fuzz_case(cfg, fam, item)
                        if isinstance(case, MalformedInstruction):
                            outcome = "MalformedInstruction"
                        else:
                            outcome = _sim_outcome(case, hang_s)
                            if with_rtl and outcome != "hang":
                                rtl = _rtl_outcome(case)
                                if rtl != outcome:
                                    mismatches.append({"case": label, "hw_sim": outcome,
                                                       "rtl": rtl})  # fmt: skip
                except Exception as e:  # noqa: BLE001 - a traceback is what the fuzzer hunts
                    outcome = "traceback"
                    where = traceback.format_exc().splitlines()[-3][:200]
                    error = f"{type(e).__name__}: {e}"[:300]
                    tracebacks.append({"case": label, "error": error, "where": where})
                wall = time.monotonic() - t0
                if wall > hang_s and outcome != "hang":
                    outcome = "hang"
                slowest = max(slowest, wall)
                counts[outcome] += 1
        report["families"][fam] = {"outcomes": dict(sorted(counts.items())),
                                   "slowest_s": round(slowest, 3)}  # fmt: skip
    total = Counter()
    for f in report["families"].values():
        total.update(f["outcomes"])
    report["tracebacks"] = total.get("traceback", 0)
    report["hangs"] = total.get("hang", 0)
    report["traceback_cases"] = tracebacks
    if with_rtl:
        report["rtl_mismatches"] = mismatches
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200, help="cases per family (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", nargs="*", default=list(ALL_FAMILIES), choices=ALL_FAMILIES)
    ap.add_argument("--rtl", action="store_true", help="also run the streams on the RTL")
    ap.add_argument("--config", default="default")
    ap.add_argument("--hang-s", type=float, default=10.0, help="wall seconds counted as a hang")
    args = ap.parse_args(argv)
    report = run(args.families, args.cases, args.seed, args.rtl, args.config, args.hang_s)
    print(json.dumps(report, indent=2))
    bad = report["tracebacks"] or report["hangs"] or report.get("rtl_mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
