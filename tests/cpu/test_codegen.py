"""LLVM backend on hand-built loop IR: every node kind, vector forms, stages, and errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from compiler.cpu.runtime import build, num_threads, set_num_threads
from compiler.llvm.codegen import CodegenError, generate
from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Call,
    Cast,
    Const,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    PrimFunc,
    Select,
    Store,
    Var,
    seq,
)

F32 = "float32"


def loop(var, extent, kind, body):
    return For(var, Const(0), Const(extent), kind, body)


@pytest.mark.parametrize("kind", list(ForKind))
def test_every_loop_kind_computes_the_same(kind, rng):
    a, out = Buffer("a", (37,)), Buffer("out", (37,))
    i = Var("i")
    f = PrimFunc(
        f"axpb_{kind.value}",
        (a, out),
        loop(i, 37, kind, Store(out, (i,), a[i] * Const(2.0, F32) + Const(1.0, F32))),
    )
    x = rng.standard_normal(37).astype(np.float32)
    y = np.zeros_like(x)
    build(f)(x, y)
    np.testing.assert_allclose(y, x * 2 + 1, rtol=1e-6)


def test_vector_loads_contiguous_invariant_and_gathered(rng):
    a = Buffer("a", (8, 24))
    s = Buffer("s", (8,))
    out = Buffer("out", (24, 8))
    i, j = Var("i"), Var("j")
    # a[i, j] is contiguous in j, s[i] invariant, out[j, i] a scatter with stride 8.
    body = loop(
        i, 8, ForKind.SERIAL, loop(j, 24, ForKind.VECTORIZED, Store(out, (j, i), a[i, j] - s[i]))
    )
    f = PrimFunc("vec_forms", (a, s, out), body)
    text = generate(f).text
    assert "<16 x float>" in text and "<8 x float>" in text  # 24 lanes = 16 + 8
    x, sv = (
        rng.standard_normal((8, 24)).astype(np.float32),
        rng.standard_normal(8).astype(np.float32),
    )
    y = np.zeros((24, 8), np.float32)
    build(f)(x, sv, y)
    np.testing.assert_array_equal(y, (x - sv[:, None]).T)


def test_long_vector_loop_is_chunked(rng):
    a, out = Buffer("a", (1000,)), Buffer("out", (1000,))
    i = Var("i")
    f = PrimFunc(
        "long_vec",
        (a, out),
        loop(i, 1000, ForKind.VECTORIZED, Store(out, (i,), BinOp("max", a[i], Const(0.0, F32)))),
    )
    x = rng.standard_normal(1000).astype(np.float32)
    y = np.zeros_like(x)
    build(f)(x, y)
    np.testing.assert_array_equal(y, np.maximum(x, 0))


@pytest.mark.parametrize(
    "op,ref",
    [
        ("floordiv", np.floor_divide),
        ("floormod", np.mod),
        ("div", lambda a, b: np.trunc(a / b).astype(np.int32)),
        ("min", np.minimum),
        ("max", np.maximum),
    ],
)
def test_integer_division_semantics(op, ref):
    a, b, out = (
        Buffer("a", (64,), "int32"),
        Buffer("b", (64,), "int32"),
        Buffer("out", (64,), "int32"),
    )
    i = Var("i")
    f = PrimFunc(
        f"int_{op}",
        (a, b, out),
        loop(i, 64, ForKind.VECTORIZED, Store(out, (i,), BinOp(op, a[i], b[i]))),
    )
    r = np.random.default_rng(7)
    x = r.integers(-50, 50, 64).astype(np.int32)
    y = r.choice([-7, -3, -1, 1, 2, 5], 64).astype(np.int32)
    z = np.zeros(64, np.int32)
    build(f)(x, y, z)
    np.testing.assert_array_equal(z, ref(x, y))


def test_casts_and_shifts_int8():
    a, out = Buffer("a", (40,), "int32"), Buffer("out", (40,), "int8")
    i = Var("i")
    v = BinOp("min", BinOp("max", a[i] >> Const(3), Const(-128)), Const(127))
    f = PrimFunc(
        "narrow", (a, out), loop(i, 40, ForKind.VECTORIZED, Store(out, (i,), Cast("int8", v)))
    )
    x = np.random.default_rng(3).integers(-5000, 5000, 40).astype(np.int32)
    y = np.zeros(40, np.int8)
    build(f)(x, y)
    np.testing.assert_array_equal(y, np.clip(x >> 3, -128, 127).astype(np.int8))


def test_select_if_let_and_local_allocate(rng):
    a, out = Buffer("a", (6, 10)), Buffer("out", (6, 10))
    tmp = Buffer("tmp", (10,), F32, scope="local")
    i, j, j2, t = Var("i"), Var("j"), Var("j"), Var("t", F32)
    fill = loop(
        j,
        10,
        ForKind.VECTORIZED,
        Store(tmp, (j,), Select(a[i, j] > Const(0.0, F32), a[i, j], Const(0.0, F32))),
    )
    use = loop(
        j2,
        10,
        ForKind.SERIAL,
        LetStmt(
            t,
            tmp[j2] * Const(3.0, F32),
            IfThenElse(
                BinOp("lt", i, Const(3)),
                Store(out, (i, j2), t),
                Store(out, (i, j2), Call("sqrt", (t,), F32)),
            ),
        ),
    )
    f = PrimFunc("misc", (a, out), loop(i, 6, ForKind.SERIAL, Allocate(tmp, seq(fill, use))))
    x = rng.standard_normal((6, 10)).astype(np.float32)
    y = np.zeros_like(x)
    build(f)(x, y)
    r = np.maximum(x, 0) * 3
    r[3:] = np.sqrt(r[3:])
    np.testing.assert_allclose(y, r, rtol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_parallel_stages_with_a_temporary(threads, rng):
    """Two parallel stages communicating through a runtime-allocated global temporary."""
    a, out = Buffer("a", (300, 16)), Buffer("out", (300, 16))
    t = Buffer("t", (300, 16))
    i, j, i2, j2 = Var("i"), Var("j"), Var("i"), Var("j")
    s1 = loop(
        i,
        300,
        ForKind.PARALLEL,
        loop(j, 16, ForKind.VECTORIZED, Store(t, (i, j), a[i, j] + Const(1.0, F32))),
    )
    s2 = loop(
        i2,
        300,
        ForKind.PARALLEL,
        loop(j2, 16, ForKind.VECTORIZED, Store(out, (i2, j2), t[299 - i2, j2] * Const(2.0, F32))),
    )
    f = PrimFunc("two_stages", (a, out), Allocate(t, seq(s1, s2)))
    code = generate(f)
    assert [s.parallel_extent for s in code.stages] == [300, 300] and len(code.temps) == 1
    before = num_threads()
    set_num_threads(threads)
    try:
        x = rng.standard_normal((300, 16)).astype(np.float32)
        y = np.zeros_like(x)
        build(f)(x, y)
    finally:
        set_num_threads(before)
    np.testing.assert_allclose(y, (x[::-1] + 1) * 2, rtol=1e-6)


def test_errors_name_the_thing_at_fault():
    a, out, ghost = Buffer("a", (8,)), Buffer("out", (1,)), Buffer("ghost", (8,))
    i = Var("i")
    cases = [
        (loop(i, 8, ForKind.SERIAL, Store(out, (Const(0),), ghost[i])), "ghost"),
        (loop(i, 8, ForKind.VECTORIZED, Store(out, (Const(0),), a[i])), "reduction"),
        (Store(out, (Const(0),), Call("erf", (a[Const(0)],), F32)), "erf"),
        (Store(out, (Const(0),), a[i]), "variable i"),
    ]
    for body, needle in cases:
        with pytest.raises(CodegenError, match=needle):
            generate(PrimFunc("bad", (a, out), body))


def test_kernel_checks_its_arguments():
    a, out = Buffer("a", (8,)), Buffer("out", (8,))
    i = Var("i")
    k = build(PrimFunc("copy8", (a, out), loop(i, 8, ForKind.SERIAL, Store(out, (i,), a[i]))))
    with pytest.raises(TypeError, match="buffer a needs float32"):
        k(np.zeros(8, np.float64), np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="buffer out"):
        k(np.zeros(8, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="expected 2 arrays"):
        k(np.zeros(8, np.float32))


def test_lane_dependent_branch_and_non_affine_index(rng):
    """An if testing the vector lane is scalarized; `i + i // 2` is a gather, not contiguous."""
    a, out = Buffer("a", (32,)), Buffer("out", (16,))
    i = Var("i")
    body = loop(
        i,
        16,
        ForKind.VECTORIZED,
        IfThenElse(
            BinOp("lt", i, Const(10)),
            Store(out, (i,), a[i + i // 2]),
            Store(out, (i,), Const(-1.0, F32)),
        ),
    )
    x = rng.standard_normal(32).astype(np.float32)
    y = np.zeros(16, np.float32)
    build(PrimFunc("branchy", (a, out), body))(x, y)
    idx = np.arange(16)
    np.testing.assert_array_equal(y, np.where(idx < 10, x[idx + idx // 2], -1))


def test_llvmlite_is_imported_in_one_module_only():
    """The issue's contract: compiler/llvm/binding.py is llvmlite's single importer."""
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"^\s*(import llvmlite|from llvmlite)\b", re.MULTILINE)
    importers = sorted(
        str(p.relative_to(root))
        for top in root.iterdir()
        if top.is_dir() and not top.name.startswith(".")
        for p in top.rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    )
    assert importers == ["compiler/llvm/binding.py"]
