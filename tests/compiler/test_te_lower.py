"""Tensor expressions + schedule primitives + lowering, checked by the loop-IR interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.schedule.schedule import ScheduleError, create_schedule
from compiler.te.tensor import cast, compute, placeholder, reduce_axis, sum_reduce
from compiler.tir.interp import run
from compiler.tir.lower import lower
from compiler.tir.nodes import ForKind, Select
from compiler.tir.printer import print_func
from compiler.tir.verify import verify


def _matmul(n, m, k):
    a = placeholder((n, k), "int8", "A")
    b = placeholder((m, k), "int8", "B")
    r = reduce_axis(k, "r")
    c = compute(
        (n, m), lambda i, j: sum_reduce(cast("int32", a[i, r]) * cast("int32", b[j, r]), r), "C"
    )
    return a, b, c


def _ref_matmul(a, b):
    return a.astype(np.int32) @ b.astype(np.int32).T


def test_default_schedule_matches_numpy(rng):
    a, b, c = _matmul(3, 5, 7)
    f = lower(create_schedule(c))
    verify(f)
    x = rng.integers(-128, 128, (3, 7)).astype(np.int8)
    y = rng.integers(-128, 128, (5, 7)).astype(np.int8)
    out = run(f, {"A": x, "B": y, "C": np.zeros((3, 5), np.int32)})["C"]
    np.testing.assert_array_equal(out, _ref_matmul(x, y))


@pytest.mark.parametrize("factor", [2, 3, 5])
def test_split_reorder_compute_at_cache_read(rng, factor):
    a, b, c = _matmul(4, 6, 8)
    d = compute((4, 6), lambda i, j: c[i, j] >> 2, "D")
    s = create_schedule(d)
    s[c].set_scope("local")
    i, j = d.op.axis
    jo, ji = s[d].split(j, factor)
    io, ii = s[d].split(i, nparts=2)
    s[d].reorder(io, jo, ii, ji)
    s[c].compute_at(s[d], jo)
    ko, ki = s[c].split(s[c].op.reduce_axis[0], factor)
    aa = s.cache_read(a, "local", [c])
    s[aa].compute_at(s[c], ko)
    s[d].vectorize(ji)
    f = lower(s)
    verify(f)
    text = print_func(f)
    assert "vectorized" in text and "alloc A.local" in text and "alloc C" in text
    x = rng.integers(-128, 128, (4, 8)).astype(np.int8)
    y = rng.integers(-128, 128, (6, 8)).astype(np.int8)
    out = run(f, {"A": x, "B": y, "D": np.zeros((4, 6), np.int32)})["D"]
    np.testing.assert_array_equal(out, _ref_matmul(x, y) >> 2)


def test_tile_orders_outer_tiles_first(rng):
    """tile(i, j, 2, 3) on a 5x7 result: non-dividing factors leave partial edge tiles."""
    a, b, c = _matmul(5, 7, 4)
    s = create_schedule(c)
    i, j = c.op.axis
    io, jo, ii, ji = s[c].tile(i, j, 2, 3)
    assert [iv.extent for iv in (io, jo, ii, ji)] == [3, 3, 2, 3]
    assert s[c].leaf_iter_vars[:4] == [io, jo, ii, ji]
    f = lower(s)
    verify(f)
    x = rng.integers(-128, 128, (5, 4)).astype(np.int8)
    y = rng.integers(-128, 128, (7, 4)).astype(np.int8)
    out = run(f, {"A": x, "B": y, "C": np.zeros((5, 7), np.int32)})["C"]
    np.testing.assert_array_equal(out, _ref_matmul(x, y))


def test_elementwise_te_ops_match_numpy(rng):
    """The element-wise operator definitions (shift, add of an int8 tensor, clip, relu) through
    the default schedule and the loop-IR interpreter, against NumPy."""
    from compiler.te.ops import nn

    x = placeholder((3, 5), "int32", "X")
    r = placeholder((3, 5), "int8", "R")
    y = nn.shift_right(x, 3, "shr")
    y = nn.add(y, r, "res")
    y = nn.shift_left(y, 1, "shl")
    y = nn.add_imm(y, -7, "addi")
    _, y = nn.clip(y, -100, 100, "clip")
    y = nn.relu(y, "relu")
    out_t = nn.cast_to(y, "int8", "out")
    f = lower(create_schedule(out_t))
    verify(f)
    xv = rng.integers(-(2**12), 2**12, (3, 5)).astype(np.int32)
    rv = rng.integers(-128, 128, (3, 5)).astype(np.int8)
    out = run(f, {"X": xv, "R": rv, "out": np.zeros((3, 5), np.int8)})["out"]
    ref = np.maximum(np.clip((((xv >> 3) + rv.astype(np.int32)) << 1) - 7, -100, 100), 0)
    np.testing.assert_array_equal(out, ref.astype(np.int8))


def test_fuse_parallel_and_inline(rng):
    a = placeholder((4, 6), "float32", "A")
    t = compute((4, 6), lambda i, j: a[i, j] * 2.0, "T")
    u = compute((4, 6), lambda i, j: t[i, j] + 1.0, "U")
    s = create_schedule(u)
    s[t].compute_inline()
    f_ = s[u].fuse(*u.op.axis)
    s[u].parallel(f_)
    f = lower(s)
    verify(f)
    text = print_func(f)
    assert "parallel" in text and "alloc" not in text
    x = rng.standard_normal((4, 6)).astype(np.float32)
    out = run(f, {"A": x, "U": np.zeros((4, 6), np.float32)})["U"]
    np.testing.assert_allclose(out, x * 2 + 1, rtol=1e-6)


def test_cache_write_and_unroll(rng):
    a, b, c = _matmul(2, 4, 4)
    s = create_schedule(c)
    cl = s.cache_write(c, "local")
    i, j = c.op.axis
    s[cl].compute_at(s[c], i)
    s[c].unroll(j)
    f = lower(s)
    verify(f)
    assert "unrolled" in print_func(f)
    x = rng.integers(-128, 128, (2, 4)).astype(np.int8)
    y = rng.integers(-128, 128, (4, 4)).astype(np.int8)
    out = run(f, {"A": x, "B": y, "C": np.zeros((2, 4), np.int32)})["C"]
    np.testing.assert_array_equal(out, _ref_matmul(x, y))


def test_padding_inlined_into_cache_read(rng):
    a = placeholder((5,), "int8", "A")
    p = compute((7,), lambda i: Select(_in(i), a[i - 1], cast("int8", 0)), "P")
    o = compute((5,), lambda i: cast("int32", p[i]) + cast("int32", p[i + 2]), "O")
    s = create_schedule(o)
    s[p].compute_inline()
    pc = s.cache_read(p, "local", [o])
    io, ii = s[o].split(o.op.axis[0], 2)
    s[pc].compute_at(s[o], io)
    f = lower(s)
    verify(f)
    x = rng.integers(-128, 128, (5,)).astype(np.int8)
    out = run(f, {"A": x, "O": np.zeros(5, np.int32)})["O"]
    padded = np.concatenate([[0], x, [0]]).astype(np.int32)
    np.testing.assert_array_equal(out, padded[:5] + padded[2:7])


def _in(i):
    from compiler.tir.nodes import BinOp, Const

    return BinOp("and", BinOp("ge", i, Const(1)), BinOp("lt", i, Const(6)))


def test_schedule_errors_name_the_stage():
    a, b, c = _matmul(2, 2, 2)
    s = create_schedule(c)
    other = reduce_axis(3, "q")
    with pytest.raises(ScheduleError, match="stage C"):
        s[c].split(other, 2)
    i, j = c.op.axis
    with pytest.raises(ScheduleError, match="directly enclose"):
        s[c].fuse(j, i)
    assert ForKind.VIRTUAL_THREAD.value == "vthread"


def test_strided_region_is_compacted(rng):
    """A stride-2 reader of a cached tensor: the cache holds only the rows it reads."""
    a = placeholder((16, 4), "int32", "A")
    o = compute((8, 4), lambda i, j: a[i * 2, j] + 1, "O")
    s = create_schedule(o)
    io, ii = s[o].split(o.op.axis[0], 4)
    ac = s.cache_read(a, "local", [o])
    s[ac].compute_at(s[o], io)
    s[ac].allow_strided(ac.op.axis[0])
    f = lower(s)
    verify(f)
    text = print_func(f)
    assert "alloc A.local: int32[4, 4] @local" in text  # 4 rows, not 7
    assert "A[i.o * 8 + i * 2, j]" in text
    x = rng.integers(-100, 100, (16, 4)).astype(np.int32)
    out = run(f, {"A": x, "O": np.zeros((8, 4), np.int32)})["O"]
    np.testing.assert_array_equal(out, x[::2] + 1)


def test_accelerator_schedule_is_target_neutral_before_vta_passes(rng):
    """The VTA schedule of a conv (tiles, caches, vthreads, pragmas) lowers to loop IR that the
    plain interpreter runs correctly: scheduling never changes what is computed."""
    from vta_refs import conv2d_nchw, epilogue, random_conv_inputs

    from compiler.schedule.vta_gemm import Knobs, schedule_vta
    from compiler.vta.ops import conv2d_op
    from hw_sim.config import load_config

    cfg = load_config("small")
    op = conv2d_op(cfg, 1, 2 * cfg.block_in, 6, 6, cfg.block_out, 3, 2, 1, residual=True)
    f = lower(schedule_vta(op, Knobs(tile_h=1, tile_w=3, tile_ci=1, h_threading=1)))
    verify(f)
    x, w, b, r = random_conv_inputs(
        rng, 1, 2 * cfg.block_in, 6, 6, cfg.block_out, 3, 1, (1, cfg.block_out, 3, 3)
    )
    arrays = {}
    for name, fn in op.pack.items():
        arrays.update(fn({"data": x, "kernel": w, "bias": b, "residual": r}[name]))
    arrays[op.output.name] = np.zeros(op.output.shape, np.int8)
    out = run(f, arrays)[op.output.name]
    ref = epilogue(conv2d_nchw(x, w, 2, 1), b, residual=r)
    np.testing.assert_array_equal(op.unpack(out), ref)


def test_scheduling_leaves_the_expression_unchanged(rng):
    """cache_read / cache_write rewrite stages, not tensors: the same tensors can be scheduled
    again (as a tuner does, once per knob setting) and lower to the same function."""
    a, b, c = _matmul(4, 6, 8)
    body_before = c.op.body

    def scheduled():
        s = create_schedule(c)
        cl = s.cache_write(c, "local")
        s[cl].compute_at(s[c], c.op.axis[0])
        aa = s.cache_read(a, "local", [cl])
        s[aa].compute_at(s[cl], s[cl].leaf_iter_vars[0])
        assert s[c.op] is s[c]  # the stage is found from the tensor or its defining op
        return print_func(lower(s))

    first = scheduled()
    assert c.op.body is body_before and a in c.op.inputs
    assert scheduled() == first


def test_vta_operator_builds_twice_the_same(rng):
    from compiler.vta.build import build
    from compiler.vta.ops import conv2d_op
    from hw_sim.config import load_config

    cfg = load_config("small")
    op = conv2d_op(cfg, 1, 2 * cfg.block_in, 6, 6, cfg.block_out, 3, 1, 1, residual=True)
    assert build(op, cfg).program.insns == build(op, cfg).program.insns
