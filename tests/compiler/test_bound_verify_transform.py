"""Bound inference, the verifier and the pass pipeline (with its debug output)."""

from __future__ import annotations

import pytest

from compiler.schedule.schedule import create_schedule
from compiler.te.tensor import cast, compute, placeholder, reduce_axis, sum_reduce
from compiler.tir.affine import interval, linear_form, simplify
from compiler.tir.bound import BoundError, infer_bounds
from compiler.tir.lower import _effective_bodies, lower
from compiler.tir.nodes import Allocate, Buffer, Const, For, ForKind, PrimFunc, Store, Var
from compiler.tir.printer import print_expr
from compiler.tir.transform import Pass, Sequential
from compiler.tir.verify import VerifyError, verify


def test_affine_simplify_and_interval():
    i, j = Var("i"), Var("j")
    assert print_expr(simplify((i * 4 + j) * 2 - i + 3)) == "i * 7 + j * 2 + 3"
    coeffs, rest = linear_form(i * 3 + j + 5, [j])
    assert coeffs == {j: 1} and print_expr(rest) == "i * 3 + 5"
    lo, ext = interval(i * 2 - j, {j: (Const(0), 4)})
    assert print_expr(lo) == "i * 2 - 3" and ext == 4
    assert linear_form(i * j, [j]) is None


def test_conv_like_window_region():
    """A 3-tap window read inside a tiled loop needs tile + 2 elements starting at the tile."""
    a = placeholder((18,), "int32", "A")
    r = reduce_axis(3, "r")
    o = compute((16,), lambda x: sum_reduce(a[x + r], r), "O")
    s = create_schedule(o)
    xo, xi = s[o].split(o.op.axis[0], 4)
    aa = s.cache_read(a, "local", [o])
    s[aa].compute_at(s[o], xo)
    b = infer_bounds(s, _effective_bodies(s))
    (ax,) = aa.op.axis
    lo, ext = b[s[aa]].root[ax]
    assert print_expr(lo) == "x.o * 4" and ext == 6


def test_attach_to_unrelated_reader_is_an_error():
    a = placeholder((8,), "int32", "A")
    t = compute((8,), lambda i: a[i] + 1, "T")
    u = compute((8,), lambda i: t[i] * 2, "U")
    v = compute((8,), lambda i: u[i] + t[i], "V")
    s = create_schedule(v)
    io, ii = s[v].split(v.op.axis[0], 2)
    s[t].compute_at(s[v], io)  # but U (at root) also reads T
    with pytest.raises(BoundError, match="T is computed at V"):
        lower(s)


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
