"""The on-disk kernel cache: a second process loads instead of compiling; corrupt entries are
rebuilt with a warning, never fatal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.llvm.cache import ObjectCache

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, numpy as np
from compiler.cpu.runtime import build
from compiler.llvm import jit
from compiler.tir.nodes import Buffer, Const, For, ForKind, PrimFunc, Store, Var
a, out = Buffer("a", (16,)), Buffer("out", (16,))
i = Var("i")
f = PrimFunc("cache_probe", (a, out), For(i, Const(0), Const(16), ForKind.VECTORIZED,
             Store(out, (i,), a[i] + Const(3.0, "float32"))))
x = np.arange(16, dtype=np.float32); y = np.zeros_like(x)
build(f)(x, y)
assert (y == x + 3).all()
print(json.dumps(jit.stats))
"""


def _run_child(cache: Path) -> dict:
    env = {"VTAC_CPU_CACHE": str(cache), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-W", "always", "-c", _CHILD],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1]) | {"stderr": res.stderr}


def test_second_process_hits_the_cache_and_corruption_is_rebuilt(tmp_path):
    first = _run_child(tmp_path)
    assert first["compiled"] == 1 and first["cache_hits"] == 0
    second = _run_child(tmp_path)
    assert second["compiled"] == 0 and second["cache_hits"] == 1
    (entry,) = tmp_path.glob("*.o")
    entry.write_bytes(entry.read_bytes()[:-10] + b"garbage!!!")
    third = _run_child(tmp_path)
    assert third["compiled"] == 1 and "corrupt entry" in third["stderr"]
    assert _run_child(tmp_path)["cache_hits"] == 1


def test_object_cache_roundtrip_and_bad_files(tmp_path):
    cache = ObjectCache(tmp_path)
    assert cache.get("k") is None
    cache.put("k", b"\x7fELF object bytes")
    assert cache.get("k") == b"\x7fELF object bytes"
    for junk in (b"", b"VTACOBJ1", b"not a cache entry at all, just text"):
        (tmp_path / "k.o").write_bytes(junk)
        with pytest.warns(UserWarning, match="corrupt entry"):
            assert cache.get("k") is None


def test_disabled_cache_is_a_no_op():
    cache = ObjectCache(None)
    cache.put("k", b"x")
    assert cache.get("k") is None
