"""`RunStats.vta_profiler`: VTA's functional-simulator counters, by VTA's definitions."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.builder import ProgramBuilder
from hw_sim.isa import AluOp, MemType, Module, Uop
from hw_sim.simulator import simulate

pytestmark = pytest.mark.sim


def test_acc_8bit_loads_count_accumulator_elements(cfg):
    """VTA counts an ACC_8BIT load in 4-byte-lane accumulator elements; vtac's DRAM bytes are
    the int8 bytes read: the two differ by ACC_WIDTH / 8; every other counter is equal."""
    m = 6
    b = ProgramBuilder(cfg)
    a8 = b.buffer("a8", data=np.ones((m, cfg.batch, cfg.block_out), np.int8))
    a32 = b.buffer("a32", data=np.ones((m, cfg.batch, cfg.block_out), np.int32))
    out = b.buffer("out", shape=(2 * m, cfg.batch, cfg.block_out), dtype=np.int8)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.load(MemType.ACC_8BIT, sram=0, buf=a8, y=1, x=m)
    b.load(MemType.ACC, sram=m, buf=a32, y=1, x=m)
    b.alu(AluOp.SHR, imm=0, uop_bgn=0, uop_end=1, iter_in=2 * m, dst_factor_in=1,
          src_factor_in=1, push_next=True)  # fmt: skip
    b.store(0, out, y=1, x=2 * m, pop_prev=True, push_prev=True)
    b.nop(Module.COMPUTE, pop_next=True)
    b.finish()
    st = simulate(b.build()).stats
    vta = st.vta_profiler(cfg)
    row8, row32 = cfg.batch * cfg.block_out, cfg.acc_elem_bytes
    assert st.dram_bytes_read["ACC_8BIT"] == m * row8
    assert st.dram_bytes_read["ACC"] == m * row32
    assert vta["acc_load_nbytes"] == 2 * m * row32  # both loads in accumulator elements
    assert row32 == row8 * cfg.acc_width // 8  # the factor (4 at VTA's default)
    assert vta["out_store_nbytes"] == st.dram_bytes_written == 2 * m * row8
    assert vta["uop_load_nbytes"] == st.dram_bytes_read["UOP"] == 4
    assert vta["alu_counter"] == st.alu_uops == 2 * m and vta["gemm_counter"] == 0
