"""Pass `insert_dep_tokens`: RAW and WAR tokens, loop-carried reuse, start, drain, balance."""

from __future__ import annotations

from vta_helpers import small_conv

from compiler.schedule.vta_gemm import Knobs
from compiler.vta.build import build
from compiler.vta.codegen import VtaCodegen
from compiler.vta.deps import Access, StreamInsn, insert_dep_tokens
from compiler.vta.ops import conv2d_op
from hw_sim.isa import FinishInsn, GemmInsn, MemInsn, MemType, Module, Opcode, insn_module


def _load(mem, lo, hi):
    insn = MemInsn(
        opcode=Opcode.LOAD, mem_type=MemType[mem], sram_base=lo, x_size=hi - lo, y_size=1
    )
    return StreamInsn(insn, Module.LOAD, (Access(mem, lo, hi, True),))


def _gemm(inp, wgt, out):
    acc = (Access("INP", *inp, False), Access("WGT", *wgt, False), Access("OUT", *out, True))
    return StreamInsn(GemmInsn(uop_bgn=0, uop_end=1), Module.COMPUTE, acc)


def _store(lo, hi):
    insn = MemInsn(
        opcode=Opcode.STORE, mem_type=MemType.OUT, sram_base=lo, x_size=hi - lo, y_size=1
    )
    return StreamInsn(insn, Module.STORE, (Access("OUT", lo, hi, False),))


def _flags(insn):
    return "".join(
        c
        for c, f in zip("PpUu", ("pop_prev", "pop_next", "push_prev", "push_next"), strict=True)
        if getattr(insn, f)
    )


def test_raw_load_to_compute_and_compute_to_store():
    s = [_load("INP", 0, 4), _gemm((0, 4), (0, 1), (0, 4)), _store(0, 4)]
    out = insert_dep_tokens(s)
    assert [_flags(i) for i in out] == ["u", "Pu", "P"]


def test_war_buffer_reuse_is_loop_carried():
    """Second load into the same rows must wait for the GEMM that read the first."""
    s = [
        _load("INP", 0, 4),
        _gemm((0, 4), (0, 1), (0, 4)),
        _load("INP", 0, 4),
        _gemm((0, 4), (0, 1), (4, 8)),
    ]
    out = insert_dep_tokens(s)
    assert [_flags(i) for i in out] == ["u", "PU", "pu", "P"]


def test_war_on_out_rows_compute_waits_for_the_store():
    """A GEMM that overwrites accumulator/OUT rows must wait until the store has read them."""
    s = [
        _load("INP", 0, 4),
        _gemm((0, 4), (0, 1), (0, 4)),
        _store(0, 4),
        _gemm((0, 4), (0, 1), (0, 4)),
    ]
    out = insert_dep_tokens(s)
    assert [_flags(i) for i in out] == ["u", "Pu", "PU", "p"]


def test_loop_carried_start_and_drain_of_a_loop():
    """Three iterations of load -> GEMM -> store on the same rows. Start: the first load pops
    nothing (no initial tokens are needed: every edge points backwards). Loop-carried: each
    later load waits for the previous GEMM (WAR on INP) and each later GEMM for the previous
    store (WAR on OUT). Drain: the last iteration pushes no token nobody pops."""
    s = []
    for _ in range(3):
        s += [_load("INP", 0, 4), _gemm((0, 4), (0, 1), (0, 4)), _store(0, 4)]
    out = insert_dep_tokens(s)
    assert [_flags(i) for i in out] == [
        *("u", "PUu", "PU"),  # iteration 0: start
        *("pu", "PpUu", "PU"),  # iteration 1: pops the WAR tokens of iteration 0
        *("pu", "Ppu", "P"),  # iteration 2: nothing left for a later iteration
    ]


def test_drain_nop_waits_for_the_last_load_and_store():
    """The code generator ends a stream with a compute NOP that conflicts with everything."""
    everything = tuple(Access(m, 0, 1 << 30, True) for m in ("INP", "WGT", "OUT"))
    nop = StreamInsn(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP), Module.COMPUTE, everything)
    s = [_load("INP", 0, 4), _gemm((0, 4), (0, 1), (0, 4)), _store(0, 4), _load("WGT", 0, 1), nop]
    out = insert_dep_tokens(s)
    assert [_flags(i) for i in out] == ["u", "PUu", "PU", "pu", "Pp"]


def test_ping_pong_threads_do_not_wait_on_each_other():
    s = [
        _load("INP", 0, 4),
        _load("INP", 4, 8),
        _gemm((0, 4), (0, 1), (0, 4)),
        _gemm((4, 8), (0, 1), (4, 8)),
        _load("INP", 0, 4),  # waits only for the first GEMM
        _gemm((0, 4), (0, 1), (0, 4)),
    ]
    out = insert_dep_tokens(s)
    assert [_flags(i) for i in out] == ["u", "u", "PU", "P", "pu", "P"]


def test_pushes_and_pops_balance():
    s = []
    for k in range(6):
        rows = (4 * (k % 2), 4 * (k % 2) + 4)
        s += [_load("INP", *rows), _gemm(rows, (0, 1), rows), _store(*rows)]
    out = insert_dep_tokens(s)

    def count(module, flag):
        return sum(getattr(i, flag) for i, x in zip(out, s, strict=True) if x.queue == module)

    assert count(Module.LOAD, "push_next") == count(Module.COMPUTE, "pop_prev") > 0  # l2g
    assert count(Module.COMPUTE, "push_prev") == count(Module.LOAD, "pop_next") > 0  # g2l
    assert count(Module.COMPUTE, "push_next") == count(Module.STORE, "pop_prev") > 0  # g2s
    assert count(Module.STORE, "push_prev") == count(Module.COMPUTE, "pop_next") > 0  # s2g


def test_compiled_stream_starts_free_drains_and_balances(cfg):
    """A whole compiled operator: no pop before a push, every counter balanced, and the stream
    drains with a compute NOP that waits for the last store before FINISH."""
    op = conv2d_op(cfg, 1, 2 * cfg.block_in, 6, 6, 2 * cfg.block_out, 3, 1, 1)
    insns = build(op, cfg).program.insns
    counters = {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}
    # (module, flag) -> counter, as in docs/timing-model.md
    push = {
        (Module.LOAD, "push_next"): "l2g",
        (Module.COMPUTE, "push_prev"): "g2l",
        (Module.COMPUTE, "push_next"): "g2s",
        (Module.STORE, "push_prev"): "s2g",
    }
    pop = {
        (Module.COMPUTE, "pop_prev"): "l2g",
        (Module.LOAD, "pop_next"): "g2l",
        (Module.STORE, "pop_prev"): "g2s",
        (Module.COMPUTE, "pop_next"): "s2g",
    }
    pushed = dict(counters)
    popped = dict(counters)
    for insn in insns:
        m = insn_module(insn)
        for (mod, flag), c in pop.items():
            if mod == m and getattr(insn, flag):
                popped[c] += 1
        for (mod, flag), c in push.items():
            if mod == m and getattr(insn, flag):
                pushed[c] += 1
    assert pushed == popped and all(v > 0 for v in pushed.values())
    assert isinstance(insns[-1], FinishInsn)
    drain = insns[-2]
    assert insn_module(drain) == Module.COMPUTE and drain.is_nop and drain.pop_next  # s2g
    first_pops = [i for i in insns if i.pop_prev or i.pop_next]
    assert not (insns[0].pop_prev or insns[0].pop_next) and first_pops


def test_every_token_of_a_threaded_conv_orders_a_real_conflict(cfg):
    """Two virtual threads: matching each pop with its push (queues are FIFOs), every token
    links two instructions whose rows overlap — so thread 0 and thread 1 (disjoint rows) never
    wait on each other, and no token is spent on an order that does not matter. The only
    exception is the final drain NOP, which conflicts with everything by design."""
    op, _ = small_conv(cfg, h_threading=2)
    kern = build(op, cfg, Knobs(tile_h=2, tile_w=4, tile_ci=1, tile_co=1, h_threading=2))
    cg = VtaCodegen(kern.func, cfg)
    cg.run()
    stream = cg.stream
    insns = insert_dep_tokens(stream)
    channels = {  # (producer, push flag, consumer, pop flag)
        "l2g": (Module.LOAD, "push_next", Module.COMPUTE, "pop_prev"),
        "g2l": (Module.COMPUTE, "push_prev", Module.LOAD, "pop_next"),
        "g2s": (Module.COMPUTE, "push_next", Module.STORE, "pop_prev"),
        "s2g": (Module.STORE, "push_prev", Module.COMPUTE, "pop_next"),
    }
    tokens = 0
    for prod, push, cons, pop in channels.values():
        pushes = [j for j, x in enumerate(stream) if x.queue == prod and getattr(insns[j], push)]
        pops = [i for i, x in enumerate(stream) if x.queue == cons and getattr(insns[i], pop)]
        assert len(pushes) == len(pops)
        for j, i in zip(pushes, pops, strict=True):
            assert j < i
            if i == len(stream) - 1:
                continue  # the drain
            a, b = stream[j].accesses, stream[i].accesses
            assert any(
                x.mem == y.mem and (x.write or y.write) and x.lo < y.hi and y.lo < x.hi
                for x in a
                for y in b
            ), (j, i)
            tokens += 1
    assert tokens > 0
