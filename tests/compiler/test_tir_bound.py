"""Bound inference (`infer_bounds`) and the affine helpers it is built on."""

from __future__ import annotations

import pytest

from compiler.schedule.schedule import create_schedule
from compiler.te.tensor import compute, placeholder, reduce_axis, sum_reduce
from compiler.tir.affine import interval, linear_form, simplify
from compiler.tir.bound import BoundError, infer_bounds
from compiler.tir.lower import _effective_bodies, lower
from compiler.tir.nodes import Const, Var
from compiler.tir.printer import print_expr


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
