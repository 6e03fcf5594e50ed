"""Pass `inject_virtual_thread`: ping-pong buffers and interleaved per-thread blocks."""

from __future__ import annotations

from vta_helpers import allocs, small_conv

from compiler.tir.nodes import For, ForKind, PrimFunc, Seq
from compiler.tir.printer import print_func
from compiler.tir.visit import walk
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.vthread import inject_virtual_thread


def test_vthread_doubles_buffers_and_interleaves(cfg):
    _, f = small_conv(cfg, h_threading=2)
    assert any(isinstance(n, For) and n.kind == ForKind.VIRTUAL_THREAD for n in walk(f.body))
    g = inject_virtual_thread(alias_inplace_alu(f))
    assert not any(isinstance(n, For) and n.kind == ForKind.VIRTUAL_THREAD for n in walk(g.body))
    bufs = allocs(g)
    assert bufs["conv2d"].shape[0] == 2 and bufs["conv2d.pad.inp"].shape[0] == 2
    # inside the input-channel loop: inp(t0), wgt(t0), inp(t1), wgt(t1), gemm(t0), gemm(t1):
    # one thread's loads are adjacent in the load queue
    ico = next(n for n in walk(g.body) if isinstance(n, For) and n.var.name == "ic.o")
    body = ico.body
    assert isinstance(body, Seq) and len(body.stmts) == 6
    text = [print_func(PrimFunc("b", (), s)) for s in body.stmts]
    assert "conv2d.pad.inp[0," in text[0] and "kernel.wgt[0," in text[1]
    assert "conv2d.pad.inp[1," in text[2] and "kernel.wgt[1," in text[3]
    assert "tensorize" in text[4] and "conv2d[0," in text[4] and "conv2d[1," in text[5]


def test_loads_between_epilogue_steps_are_hoisted(cfg):
    """The GEMM-unit bias loads its constant row and digits between `>> 8` and the bias GEMM;
    they touch neither, so they move ahead and each thread's epilogue runs whole:
    [loads t0, loads t1, shr t0, bias t0, max t0, min t0, shr t1, ...]."""
    _, f = small_conv(cfg, h_threading=2, bias_on="gemm")
    g = inject_virtual_thread(alias_inplace_alu(f))
    tile = next(
        n for n in walk(g.body) if isinstance(n, Seq) and any(
            isinstance(s, For) and s.var.name == "ic.o" for s in n.stmts)
    )  # fmt: skip
    text = [print_func(PrimFunc("b", (), s)) for s in tile.stmts]
    ico = next(i for i, s in enumerate(tile.stmts) if isinstance(s, For) and s.var.name == "ic.o")
    epi = text[ico + 1 :]
    assert all("dma_copy" in t for t in epi[:4])  # the bias row and digits of both threads
    assert not any("dma_copy" in t for t in epi[4:12])
    order = [("conv2d[0," in t, "conv2d[1," in t) for t in epi[4:12]]
    assert order == [(True, False)] * 4 + [(False, True)] * 4, epi[4:12]
