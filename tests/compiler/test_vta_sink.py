"""Passes `sink_gemm_reset` and `sink_epilogue`: a tile's reset moves to just before its first
GEMM step, its epilogue to just after its last one."""

from __future__ import annotations

from vta_helpers import small_conv

from compiler.schedule.vta_gemm import Knobs
from compiler.tir.nodes import For, IfThenElse, PrimFunc, Seq
from compiler.tir.printer import print_func
from compiler.tir.visit import walk
from compiler.vta.build import build
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.sink import sink_epilogue, sink_gemm_reset
from compiler.vta.vthread import inject_virtual_thread
from hw_sim.isa import AluInsn, GemmInsn


def _ico(f) -> For:
    return next(n for n in walk(f.body) if isinstance(n, For) and n.var.name == "ic.o")


def _text(stmts) -> list[str]:
    return [print_func(PrimFunc("b", (), s)) for s in stmts]


def test_reset_moves_into_the_first_reduction_step(cfg):
    _, f = small_conv(cfg)
    f = alias_inplace_alu(f)
    g = sink_gemm_reset(f)
    count = lambda h: print_func(h).count("] = 0\n")  # noqa: E731
    assert count(f) == 1 and count(g) == 2  # the first tile's copy and the later tiles' one
    tile = next(n for n in walk(g.body) if isinstance(n, Seq))
    first = next(s for s in tile.stmts if isinstance(s, IfThenElse))
    # the first tile (every tile loop at 0) resets before the loop, as before
    assert _text([first])[0].splitlines()[1].strip() == "if j.o == 0 && k.o == 0:"
    body = _ico(g).body
    while not isinstance(body, Seq):  # the loop's own buffers are allocated inside it
        body = body.body
    kinds = _text(body.stmts)
    # later tiles: loads first (they do not touch the tile), the guarded reset, the GEMM
    assert "dma_copy" in kinds[0] and "dma_copy" in kinds[1]
    assert isinstance(body.stmts[2], IfThenElse) and "] = 0" in kinds[2]
    assert "if ic.o == 0 && (j.o != 0 || k.o != 0):" in kinds[2]
    assert "tensorize" in kinds[3] and "+ int32(" in kinds[3]
    assert print_func(sink_gemm_reset(g)) == print_func(g)  # idempotent


def test_epilogue_moves_into_the_last_reduction_step(cfg):
    _, f = small_conv(cfg, bias_on="gemm")
    f = alias_inplace_alu(f)
    g = sink_epilogue(f)
    assert print_func(g).count(">> 8") == print_func(f).count(">> 8") == 1
    body = _ico(g).body
    while not isinstance(body, Seq):
        body = body.body
    tail = body.stmts[-1]
    text = _text([tail])[0]
    assert isinstance(tail, IfThenElse) and "if ic.o == 0 + 1:" in text  # 2 steps: the last
    for step in (">> 8", "bias_row.inp[", "max(", "min("):
        assert step in text
    # the STORE stays after the loop
    tile = next(n for n in walk(g.body) if isinstance(n, Seq) and _ico(g) in n.stmts)
    after = _text(tile.stmts[tile.stmts.index(_ico(g)) + 1 :])
    assert len(after) == 1 and "conv2d.out[" in after[0]
    assert print_func(sink_epilogue(g)) == print_func(g)  # idempotent


def test_threads_interleave_reset_and_gemm(cfg):
    _, f = small_conv(cfg, h_threading=2)
    g = inject_virtual_thread(sink_gemm_reset(alias_inplace_alu(f)))
    text = _text(_ico(g).body.stmts)
    assert len(text) == 8
    assert all("dma_copy" in t for t in text[:4])
    # [reset t0, gemm t0, reset t1, gemm t1]: thread 1's reset waits for its store while
    # thread 0 computes
    assert "conv2d[0," in text[4] and "] = 0" in text[4] and "if " in text[4]
    assert "conv2d[0," in text[5] and "+ int32(" in text[5]
    assert "conv2d[1," in text[6] and "] = 0" in text[6]
    assert "conv2d[1," in text[7] and "+ int32(" in text[7]


def test_compiled_stream_resets_once_per_tile(cfg):
    op, _ = small_conv(cfg, h_threading=2)
    knobs = Knobs(tile_h=2, tile_w=4, tile_ci=1, tile_co=1, h_threading=2)  # small_conv's
    prog = build(op, cfg, knobs).program
    gemms = [i for i in prog.insns if isinstance(i, GemmInsn)]
    first = [k for k, i in enumerate(gemms) if i.reset]
    assert len(first) == 4  # 2 output-channel blocks x 2 row tiles
    # the first tiles of the two threads reset up front; every later reset is directly
    # followed by its thread's accumulating GEMM
    assert first[:2] == [0, 1]
    for k in first[2:]:
        assert not gemms[k + 1].reset and not gemms[k - 1].reset


def test_threads_interleave_gemm_and_epilogue(cfg):
    """[..., gemm t0, epi t0, gemm t1, epi t1] in the compiled stream: thread 0's last ALU op
    comes before thread 1's last accumulating GEMM."""
    op, _ = small_conv(cfg, h_threading=2)
    knobs = Knobs(tile_h=2, tile_w=4, tile_ci=1, tile_co=1, h_threading=2)
    insns = build(op, cfg, knobs).program.insns
    kinds = ["G" if isinstance(i, GemmInsn) and not i.reset else "A" if isinstance(i, AluInsn)
             else "" for i in insns]  # fmt: skip
    stream = "".join(kinds)
    # per tile pair: G t0 (step 0), G t1 (step 0), G t0 (last), epi t0 (4 ALU ops), G t1, epi t1
    assert stream.startswith("GGGAAAAGAAAA"), stream[:24]
