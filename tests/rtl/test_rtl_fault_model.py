"""One fault model: every fault program raises the same error class on the RTL device as on
hw_sim (the stream checks run before either device; PendingAtFinish, NoFinish and token
overflow are read from the RTL's own counters and trace)."""

from __future__ import annotations

import pytest

from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.errors import SimError
from hw_sim.isa import AluOp, MemInsn, MemType, Module, Opcode, Uop
from hw_sim.simulator import simulate
from runtime.rtl_device import run_rtl

pytestmark = pytest.mark.rtl


def _x(b, cfg):
    return b.buffer("x", shape=(16, cfg.batch, cfg.block_in), dtype="int8")


def _emit(*insns, finish=True, before=None):
    def make(cfg):
        b = ProgramBuilder(cfg)
        _x(b, cfg)
        if before:
            before(b, cfg)
        for insn in insns:
            b.emit(insn(cfg) if callable(insn) else insn)
        if finish:
            b.finish()
        return b.build()

    return make


def _deadlock_then_range_fault(cfg):
    """A deadlock before an out-of-range LOAD: the stream check names the LOAD on both."""
    b = ProgramBuilder(cfg)
    x = _x(b, cfg)
    b.load(MemType.INP, sram=0, buf=x, y=1, x=1, pop_next=True)  # never gets its token
    b.load(MemType.INP, sram=cfg.inp_depth - 1, buf=x, y=1, x=2)
    b.finish()
    return b.build()


def _pending(cfg):
    b = ProgramBuilder(cfg)
    b.load(MemType.INP, sram=0, buf=_x(b, cfg), y=16, x=1)
    b.finish()
    return b.build()


def _not_started(cfg):
    b = ProgramBuilder(cfg)
    b.finish()
    b.nop(Module.STORE, pop_prev=True)
    return b.build()


def _loop_range(cfg):
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.gemm(uop_bgn=0, uop_end=1, iter_out=3, dst_factor_out=cfg.acc_depth - 1)
    b.finish()
    return b.build()


def _alu_src_range(cfg):
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.alu(AluOp.ADD, uop_bgn=0, uop_end=1, iter_in=cfg.acc_depth + 1, src_factor_in=1)
    b.finish()
    return b.build()


def _token_overflow(cfg):
    cfg = HwConfig.from_dict(cfg.to_dict() | {"CMD_QUEUE_DEPTH": 512}, name=cfg.name)
    b = ProgramBuilder(cfg)
    b.gemm(reset=True, uop_bgn=0, uop_end=1, iter_out=2000)
    for _ in range(cfg.token_max + 1):
        b.nop(Module.LOAD, push_next=True)
    for _ in range(cfg.token_max + 1):
        b.nop(Module.COMPUTE, pop_prev=True)
    b.finish()
    return b.build()


def _deadlock(cfg):
    b = ProgramBuilder(cfg)
    b.load(MemType.INP, sram=0, buf=_x(b, cfg), y=1, x=2, pop_next=True)
    b.nop(Module.COMPUTE, pop_prev=True)
    b.finish()
    return b.build()


FAULTS = {
    "load_pop_prev": (_emit(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.INP, x_size=1,
                                    y_size=1, pop_prev=True)), "InvalidInstructionError"),
    "store_inp": (_emit(MemInsn(opcode=Opcode.STORE, mem_type=MemType.INP, x_size=1, y_size=1)),
                  "InvalidInstructionError"),
    "load_out": (_emit(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.OUT, x_size=1, y_size=1)),
                 "InvalidInstructionError"),
    "padded_uop": (_emit(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP, x_size=1, y_size=1,
                                 x_pad_0=1)), "InvalidInstructionError"),
    "padded_store": (_emit(MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT, x_size=1,
                                   y_size=1, y_pad_1=1)), "InvalidInstructionError"),
    "sram_range": (_emit(lambda cfg: MemInsn(opcode=Opcode.LOAD, mem_type=MemType.INP,
                                             sram_base=cfg.inp_depth - 1, x_size=2, y_size=1,
                                             x_stride=2)), "SramRangeError"),
    "dram_range": (_emit(MemInsn(opcode=Opcode.LOAD, mem_type=MemType.INP, dram_base=10**6,
                                 x_size=1, y_size=1, x_stride=1)), "DramRangeError"),
    "loop_range": (_loop_range, "SramRangeError"),
    "alu_src_range": (_alu_src_range, "SramRangeError"),
    "deadlock_then_range_fault": (_deadlock_then_range_fault, "SramRangeError"),
    "pending_running": (_pending, "PendingAtFinishError"),
    "pending_not_started": (_not_started, "PendingAtFinishError"),
    "no_finish": (_emit(lambda cfg: MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP),
                        finish=False), "NoFinishError"),
    "deadlock": (_deadlock, "DeadlockError"),
    "token_overflow": (_token_overflow, "TokenOverflowError"),
}  # fmt: skip


def outcome(run) -> str:
    try:
        run()
    except SimError as e:
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_same_fault_class_on_both_devices(default_cfg, name):
    make, expected = FAULTS[name]
    prog = make(default_cfg)
    assert outcome(lambda: simulate(prog)) == expected
    assert outcome(lambda: run_rtl(prog, prog.dram.copy())) == expected


def test_rtl_device_checks_races_and_timeout(default_cfg):
    """The device API options work on the RTL device too (from the RTL's own start cycles)."""
    from hw_sim.races import RaceError
    from runtime.device import get_device
    from tests.hw_sim.test_hwsim_races import _load_then_gemm

    dev = get_device("rtl", default_cfg)
    dev.load(_load_then_gemm(default_cfg, token=False))
    with pytest.raises(RaceError, match="INP rows 0..2"):
        dev.run(check_races=True)
    dev.run(check_races=False)
    dev.load(_load_then_gemm(default_cfg, token=True))
    assert dev.run(check_races=True).total_cycles > 0
