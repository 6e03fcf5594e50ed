"""cocotb tests of the RTL building blocks (run by tests/rtl/test_rtl_units.py).

The design is `hardware/verilog/tb/vta_units_tb.v`; its parameters come from the environment
(set by the pytest launcher from the hardware config). Each test drives one block with seeded
random stimulus and checks it against a Python model (`hw_sim.functional` for the ALU).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from hw_sim.functional import alu_apply
from hw_sim.isa import AluOp

P = {k: int(os.environ[f"VTAC_TB_{k}"]) for k in (
    "BATCH", "BLOCK_IN", "BLOCK_OUT", "TOKEN_LATENCY", "QUEUE_DEPTH", "BUS_BYTES",
    "MAX_BURST_BEATS", "DRAM_LATENCY", "CASES")}  # fmt: skip
SEED = int(os.environ.get("VTAC_SEED", "1234"))


def pack(arr: np.ndarray, dtype: str) -> int:
    return int.from_bytes(np.ascontiguousarray(arr).astype(dtype).tobytes(), "little")


def unpack(value: int, n: int, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    return np.frombuffer(int(value).to_bytes(n * width, "little"), dtype=dtype).copy()


async def start(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    for name in ("t_push", "t_pop", "q_push", "q_pop", "d_start", "d_rd_valid"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0


@cocotb.test()
async def gemm_core_matches_numpy(dut):
    """acc_out = acc_in + inp . wgt^T (int32 wrap), out = low 8 bits; reset gives zeros."""
    rng = np.random.default_rng(SEED)
    b, bi, bo = P["BATCH"], P["BLOCK_IN"], P["BLOCK_OUT"]
    for case in range(P["CASES"]):
        inp = rng.integers(-128, 128, (b, bi))
        wgt = rng.integers(-128, 128, (bo, bi))
        acc = rng.integers(-(1 << 31), 1 << 31, (b, bo))
        reset = case % 5 == 4
        dut.g_inp.value = pack(inp, "<i1")
        dut.g_wgt.value = pack(wgt, "<i1")
        dut.g_acc_in.value = pack(acc, "<i4")
        dut.g_reset.value = int(reset)
        await ReadOnly()
        want = (acc + inp @ wgt.T).astype(np.int64).astype(np.int32).reshape(-1)
        got = unpack(dut.g_acc_out.value.to_unsigned(), b * bo, "<i4")
        out = unpack(dut.g_out.value.to_unsigned(), b * bo, "<i1")
        assert np.array_equal(got, np.zeros_like(want) if reset else want), f"case {case}"
        assert np.array_equal(out, want.astype(np.int8)), f"case {case}: OUT"
        await Timer(1, "ns")


@cocotb.test()
async def alu_matches_functional_spec(dut):
    """Every opcode on random lanes (shift amounts spanning both directions and >= 32)."""
    rng = np.random.default_rng(SEED + 1)
    lanes = P["BATCH"] * P["BLOCK_OUT"]
    for case in range(P["CASES"]):
        op = AluOp(case % len(AluOp))
        a = rng.integers(-(1 << 31), 1 << 31, lanes)
        if op == AluOp.SHR:
            b = rng.integers(-40, 41, lanes)
            b[0], b[-1] = -(1 << 31), (1 << 31) - 1
        else:
            b = rng.integers(-(1 << 31), 1 << 31, lanes)
        dut.a_op.value = int(op)
        dut.a_a.value = pack(a, "<i4")
        dut.a_b.value = pack(b, "<i4")
        await ReadOnly()
        want = alu_apply(op, a.astype(np.int32), b.astype(np.int32))
        got = unpack(dut.a_res.value.to_unsigned(), lanes, "<i4")
        assert np.array_equal(got, want), f"{op.name}: a={a}, b={b}, got {got}, want {want}"
        assert np.array_equal(unpack(dut.a_out.value.to_unsigned(), lanes, "<i1"),
                              want.astype(np.int8))  # fmt: skip
        await Timer(1, "ns")


@cocotb.test()
async def token_counter_latency_and_balance(dut):
    """A push in cycle c is poppable from cycle c + 1 + TOKEN_LATENCY; `left` counts in-flight."""
    await start(dut)
    lat = P["TOKEN_LATENCY"]
    rng = np.random.default_rng(SEED + 2)
    ready: list[int] = []  # per push: first cycle its token can be popped
    pops = 0
    for cycle in range(300):
        avail = sum(1 for t in ready if t <= cycle) - pops
        push = bool(rng.random() < 0.3)
        pop = avail > 0 and bool(rng.random() < 0.5)
        dut.t_push.value = int(push)
        dut.t_pop.value = int(pop)
        await ReadOnly()
        assert bool(dut.t_avail.value) == (avail > 0), f"cycle {cycle}: avail"
        assert int(dut.t_left.value) == len(ready) - pops, f"cycle {cycle}: left"
        ready += [cycle + 1 + lat] if push else []
        pops += int(pop)
        await RisingEdge(dut.clk)


@cocotb.test()
async def command_queue_fifo_order_and_full(dut):
    """FIFO order, `full` at QUEUE_DEPTH, a pushed entry visible the next cycle, a popped slot
    free the next cycle, wrap-around of a non-power-of-two depth."""
    await start(dut)
    depth = P["QUEUE_DEPTH"]
    rng = np.random.default_rng(SEED + 3)
    model: list[int] = []
    nxt = 1
    for cycle in range(400):
        push = len(model) < depth and bool(rng.random() < 0.55)
        pop = bool(model) and bool(rng.random() < 0.45)
        dut.q_push.value = int(push)
        dut.q_data.value = nxt
        dut.q_pop.value = int(pop)
        await ReadOnly()
        assert bool(dut.q_empty.value) == (not model), f"cycle {cycle}: empty"
        assert bool(dut.q_full.value) == (len(model) == depth), f"cycle {cycle}: full"
        if model:
            assert int(dut.q_head.value) == model[0], f"cycle {cycle}: head"
        if pop:
            model.pop(0)
        if push:
            model.append(nxt)
            nxt += 1
        await RisingEdge(dut.clk)


@cocotb.test()
async def padded_load_data_and_cycles(dut):
    """DMA read engine: the SRAM image equals the zero-padded block, and the instruction lasts
    exactly 1 + y*(R*L + W) + P cycles (docs/timing-model.md)."""
    await start(dut)
    rng = np.random.default_rng(SEED + 4)
    bus, mbb, lat = P["BUS_BYTES"], P["MAX_BURST_BEATS"], P["DRAM_LATENCY"]
    dram = rng.integers(0, 256, 1 << 14, dtype=np.uint8)
    for case in range(P["CASES"]):
        leb = int(rng.integers(1, 7))  # element bytes 2 .. 64
        eb = 1 << leb
        y, x = int(rng.integers(0 if case % 7 == 6 else 1, 4)), int(rng.integers(1, 6))
        pads = [int(rng.integers(0, 3)) for _ in range(4)]
        if y == 0 and pads[0] + pads[1] == 0:
            pads[0] = 1
        stride = x + int(rng.integers(0, 3))
        base = int(rng.integers(0, (dram.size // eb) - 4 * stride - 8))
        sram_base = int(rng.integers(0, 8))
        rows, cols = pads[0] + y + pads[1], pads[2] + x + pads[3]
        sram = np.full((sram_base + rows * cols + 4) * eb, 0xAA, np.uint8)
        want = sram.copy()
        block = np.zeros((rows, cols, eb), np.uint8)
        for r in range(y):
            lo = (base + r * stride) * eb
            block[pads[0] + r, pads[2] : pads[2] + x] = dram[lo : lo + x * eb].reshape(x, eb)
        want[sram_base * eb : (sram_base + rows * cols) * eb] = block.reshape(-1)
        beats = -(-x * eb // bus)
        duration = (
            1
            + y * (-(-beats // mbb) * lat + beats)
            + ((pads[0] + pads[1]) * cols + y * (pads[2] + pads[3]))
        )
        await RisingEdge(dut.clk)
        for name, v in (("sram_base", sram_base), ("dram_base", base), ("y_size", y),
                        ("x_size", x), ("x_stride", stride), ("y_pad_0", pads[0]),
                        ("y_pad_1", pads[1]), ("x_pad_0", pads[2]), ("x_pad_1", pads[3]),
                        ("log_eb", leb)):  # fmt: skip
            getattr(dut, f"d_{name}").value = v
        dut.d_start.value = 1
        s = 0
        burst = None  # (request cycle, byte address, beats)
        beat = 0
        cycle = 0
        done_at = None
        while done_at is None:
            await RisingEdge(dut.clk)
            dut.d_start.value = 0
            cycle += 1
            deliver = burst is not None and cycle >= burst[0] + lat
            if deliver:
                a = burst[1] + beat * bus
                dut.d_rd_data.value = pack(dram[a : a + bus], "<u1")
            dut.d_rd_valid.value = int(deliver)
            await ReadOnly()
            if dut.d_rd_req.value:
                assert burst is None, "second burst while one is in flight"
                burst, beat = (cycle, int(dut.d_rd_addr.value), int(dut.d_rd_len.value)), 0
                assert burst[2] <= mbb
                assert lat > 0  # latency 0 would deliver in this cycle (harness handles it)
            if dut.d_ww_en.value:
                a = int(dut.d_ww_addr.value)
                data = unpack(dut.d_ww_data.value.to_unsigned(), bus, "<u1")
                be = int(dut.d_ww_be.value)
                for i in range(bus):
                    if be >> i & 1:
                        sram[a + i] = data[i]
            if dut.d_pad_en.value:
                row = int(dut.d_pad_row.value)
                sram[row * eb : (row + 1) * eb] = 0
            if dut.d_done.value:
                done_at = cycle
            if deliver:
                beat += 1
                if beat == burst[2]:
                    burst = None
            assert cycle < 10 * duration + 100, f"case {case}: engine never finished"
        assert done_at - s + 1 == duration, f"case {case}: {done_at - s + 1} != {duration}"
        assert np.array_equal(sram, want), f"case {case}: y={y} x={x} pads={pads} eb={eb}"
