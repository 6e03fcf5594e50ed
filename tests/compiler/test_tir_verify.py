"""The loop-IR verifier: every violation is reported with where it happens."""

from __future__ import annotations

import pytest

from compiler.tir.nodes import Allocate, Buffer, Const, For, ForKind, PrimFunc, Store, Var
from compiler.tir.verify import VerifyError, verify


def test_verifier_reports_unbound_var_and_unallocated_buffer():
    i = Var("i")
    glob = Buffer("out", (4,), "int32")
    tmp = Buffer("tmp", (4,), "int32", "local")
    body = For(Var("k"), Const(0), Const(4), ForKind.SERIAL, Store(tmp, (i,), Const(0)))
    with pytest.raises(VerifyError) as e:
        verify(PrimFunc("f", (glob,), body))
    assert "variable i" in str(e.value) and "tmp" in str(e.value)
    ok = Allocate(tmp, For(i, Const(0), Const(4), ForKind.SERIAL, Store(tmp, (i,), Const(0))))
    verify(PrimFunc("f", (glob,), ok))
    with pytest.raises(VerifyError, match="value is int8"):
        verify(PrimFunc("f", (glob,), Store(glob, (Const(0),), Const(1, "int8"))))
