"""Pass infrastructure: `Sequential` order, verification at its boundaries, debug output."""

from __future__ import annotations

import pytest

from compiler.schedule.schedule import create_schedule
from compiler.te.tensor import cast, compute, placeholder
from compiler.tir.lower import lower
from compiler.tir.nodes import Buffer, Const, PrimFunc, Store
from compiler.tir.transform import Pass, Sequential
from compiler.tir.verify import VerifyError


def test_sequential_runs_in_order_and_prints_debug(monkeypatch, capsys):
    a = placeholder((4,), "int8", "A")
    b = compute((4,), lambda i: cast("int32", a[i]), "B")
    f = lower(create_schedule(b))
    seen = []

    def mark(tag):
        def fn(func):
            seen.append(tag)
            return func

        return fn

    monkeypatch.setenv("VTAC_DEBUG", "2")
    pipe = Sequential([Pass("first", mark(1), "runs first"), Pass("second", mark(2), "then")])
    pipe.run(f)
    assert seen == [1, 2]
    err = capsys.readouterr().err
    assert "first" in err and "second" in err and "func main" in err
    assert pipe.describe().splitlines() == ["first: runs first", "second: then"]


def test_sequential_verifies_at_both_boundaries():
    """Ill-formed IR is rejected before the first pass runs, and a pass that produces
    ill-formed IR is caught at the end of the pipeline."""
    out = Buffer("out", (4,), "int32")
    good = PrimFunc("f", (out,), Store(out, (Const(0),), Const(1)))
    bad = PrimFunc("f", (out,), Store(out, (Const(0),), Const(1, "int8")))
    ran = []

    def record(func):
        ran.append(func.name)
        return func

    with pytest.raises(VerifyError, match="value is int8"):
        Sequential([Pass("record", record)]).run(bad)
    assert ran == []
    with pytest.raises(VerifyError, match="value is int8"):
        Sequential([Pass("break", lambda f: bad)]).run(good)
