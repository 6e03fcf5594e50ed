"""Pass `pingpong_accumulator`: without virtual threads, consecutive tiles alternate between two
halves of the stored accumulator when it fits."""

from __future__ import annotations

import numpy as np
from vta_portable import run_portable
from vta_refs import conv2d_nchw, epilogue, random_conv_inputs

from compiler.schedule.vta_gemm import Knobs, schedule_vta
from compiler.tir.lower import lower
from compiler.tir.nodes import Allocate
from compiler.tir.printer import print_func
from compiler.tir.visit import walk
from compiler.vta.build import build
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.ops import conv2d_op
from compiler.vta.pingpong import pingpong_accumulator
from hw_sim.isa import GemmInsn


def _lowered(cfg, knobs, h=8):
    op = conv2d_op(cfg, 1, 2 * cfg.block_in, h, h, 2 * cfg.block_out, 3, 1, 1)
    return op, alias_inplace_alu(lower(schedule_vta(op, knobs), op.name))


def _acc(f):
    return {n.buffer.name: n.buffer.shape for n in walk(f.body) if isinstance(n, Allocate)}


def test_stored_tile_gets_two_halves_indexed_by_tile_parity(cfg):
    _, f = _lowered(cfg, Knobs(tile_h=2, tile_w=8, tile_co=1))
    g = pingpong_accumulator(f, cfg)
    before, after = _acc(f), _acc(g)
    assert after["conv2d"] == (2, *before["conv2d"])  # the stored accumulator, doubled
    assert after["bias_row.inp"] == before["bias_row.inp"]  # other buffers untouched
    text = print_func(g)
    # tiles: 2 output-channel blocks (j.o) x 4 row tiles (k.o): parity of the linear position
    assert "conv2d[(j.o - 0) * 4 + (k.o - 0)) % 2" in text.replace("((", "(")


def test_left_alone_with_threads_one_tile_or_no_room(cfg):
    _, f = _lowered(cfg, Knobs(tile_h=2, tile_w=8, tile_co=1, h_threading=2))
    assert pingpong_accumulator(f, cfg) is f  # threads alternate already
    _, f = _lowered(cfg, Knobs(tile_h=8, tile_w=8, tile_co=2))
    assert pingpong_accumulator(f, cfg) is f  # one tile: nothing to alternate
    big = cfg.acc_depth // 2 + 1  # rows: no room for a second copy
    h = next(h for h in range(8, 64) if h * h * 2 >= big)
    _, f = _lowered(cfg, Knobs(tile_h=h, tile_w=h, tile_co=2), h=2 * h)
    assert pingpong_accumulator(f, cfg) is f


def test_alternating_halves_overlap_store_and_next_tile(cfg, rng):
    """Bit-exact and portable, and the second tile's reset no longer waits for the first
    tile's store: it pops no store token."""
    op = conv2d_op(cfg, 1, 2 * cfg.block_in, 8, 8, 2 * cfg.block_out, 3, 1, 1)
    kern = build(op, cfg, Knobs(tile_h=2, tile_w=8, tile_co=1))
    x, w, b, _ = random_conv_inputs(rng, 1, 2 * cfg.block_in, 8, 8, 2 * cfg.block_out, 3)
    y, _ = run_portable(kern, data=x, kernel=w, bias=b)
    np.testing.assert_array_equal(y, epilogue(conv2d_nchw(x, w, 1, 1), b))
    resets = [i for i in kern.program.insns if isinstance(i, GemmInsn) and i.reset]
    assert len(resets) == 8 and not resets[1].pop_next  # tile 1: the other half, no wait
    assert resets[2].pop_next  # tile 2 reuses tile 0's half: waits for its store


def test_falls_back_when_the_halves_kernels_evict_each_other():
    """Small config, C2 without threads, a tiling the heuristic would double: the two halves'
    448-micro-op GEMM kernels do not stay resident together, so `build` recompiles with one
    accumulator tile (every LOAD UOP again loads a new kernel)."""
    from compiler.schedule.vta_heuristic import pingpong
    from hw_sim.config import load_config

    cfg = load_config("small")
    op = conv2d_op(cfg, 1, 64, 56, 56, 64, 3, 1, 1)
    knobs = Knobs(tile_h=4, tile_w=28, tile_ci=4, tile_co=4)
    assert pingpong(op, cfg, knobs)
    kern = build(op, cfg, knobs)
    assert any(name.endswith("(no pingpong)") for name, _ in kern.pass_times)
    assert kern.codegen.uop_loads == kern.codegen.uop_kernels
