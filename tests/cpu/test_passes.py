"""CPU loop-IR passes: before/expected pairs (compared as printed text)."""

from __future__ import annotations

from compiler.cpu.passes import prove_guards, simplify_div_mod
from compiler.tir import print_func
from compiler.tir.nodes import (
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    IfThenElse,
    PrimFunc,
    Select,
    Store,
    Var,
)


def func(body, *bufs):
    return PrimFunc("f", bufs, body)


def loop(v, n, body, kind=ForKind.SERIAL):
    return For(v, Const(0), Const(n), kind, body)


def test_div_mod_of_split_indices_become_the_loop_vars():
    a, out = Buffer("a", (4, 16)), Buffer("out", (64,))
    jo, j = Var("jo"), Var("j")
    idx = jo * 16 + j
    before = func(loop(jo, 4, loop(j, 16, Store(out, (idx,), a[idx // 16, idx % 16]))), a, out)
    expected = func(loop(jo, 4, loop(j, 16, Store(out, (idx,), a[jo, j]))), a, out)
    assert print_func(simplify_div_mod(before)) == print_func(expected)


def test_div_mod_kept_when_the_remainder_may_overflow():
    a, out = Buffer("a", (8, 16)), Buffer("out", (128,))
    jo, j = Var("jo"), Var("j")
    idx = jo * 16 + j * 2  # j * 2 reaches 30 >= 16: not decomposable
    before = func(loop(jo, 4, loop(j, 16, Store(out, (idx,), a[idx // 16, idx % 16]))), a, out)
    assert print_func(simplify_div_mod(before)) == print_func(before)


def test_guards_decided_by_loop_ranges_are_dropped():
    out = Buffer("out", (32,))
    f, j = Var("f"), Var("j")
    always = BinOp("lt", (f % 2) * 16 + j, Const(32))
    never = BinOp("ge", j, Const(16))
    open_ = BinOp("lt", f * 16 + j, Const(20))
    body = loop(
        f,
        2,
        loop(
            j,
            16,
            IfThenElse(
                always,
                IfThenElse(
                    never,
                    Store(out, (j,), Const(1.0, "float32")),
                    Store(out, (j,), Select(open_, Const(2.0, "float32"), Const(3.0, "float32"))),
                ),
            ),
        ),
    )
    expected = loop(
        f,
        2,
        loop(j, 16, Store(out, (j,), Select(open_, Const(2.0, "float32"), Const(3.0, "float32")))),
    )
    assert print_func(prove_guards(func(body, out))) == print_func(func(expected, out))
