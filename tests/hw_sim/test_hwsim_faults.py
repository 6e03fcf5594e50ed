"""Every fault the simulator reports: a clear error naming the instruction, field, module or
token counter at fault — never a hang or a crash."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.errors import (
    DeadlockError,
    DramRangeError,
    InvalidInstructionError,
    NoFinishError,
    PendingAtFinishError,
    SimError,
    SramRangeError,
    TokenOverflowError,
    WatchdogError,
)
from hw_sim.examples import EXAMPLES
from hw_sim.isa import AluOp, MemInsn, MemType, Module, Opcode, Uop
from hw_sim.simulator import simulate


def _builder(cfg):
    b = ProgramBuilder(cfg)
    x = b.buffer("x", shape=(16, cfg.batch, cfg.block_in), dtype="int8")
    return b, x


def test_deadlock_names_blocked_instructions_and_tokens(cfg):
    b, x = _builder(cfg)
    b.load(MemType.INP, sram=0, buf=x, y=1, x=1, push_next=True)
    b.nop(Module.COMPUTE, pop_prev=True)  # consumes the only l2g token
    b.gemm(uop_bgn=0, uop_end=1, pop_prev=True)  # 2: waits for a second l2g forever
    b.store(0, 0, y=1, x=1, pop_prev=True)  # 3: waits for g2s
    b.finish()
    with pytest.raises(DeadlockError) as err:
        simulate(b.build())
    e = err.value
    assert "instruction 2 (GEMM" in e.blocked["compute"] and "l2g" in e.blocked["compute"]
    assert "instruction 3 (STORE" in e.blocked["store"] and "g2s" in e.blocked["store"]
    assert e.blocked["load"].startswith("done")
    assert e.tokens == {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}
    assert "deadlock" in str(e) and "tokens" in str(e)


def test_deadlock_from_full_command_queue(cfg):
    """Compute's head waits for a load token whose LOAD sits behind a full compute queue."""
    b, x = _builder(cfg)
    b.nop(Module.COMPUTE, pop_prev=True)
    for _ in range(cfg.CMD_QUEUE_DEPTH + 1):
        b.nop(Module.COMPUTE)
    b.load(MemType.INP, sram=0, buf=x, y=1, x=1, push_next=True)
    b.finish()
    with pytest.raises(DeadlockError) as err:
        simulate(b.build())
    assert "queue is full" in err.value.blocked["fetch"]
    assert f"instruction {cfg.CMD_QUEUE_DEPTH} " in err.value.blocked["fetch"]
    assert "not been dispatched" in err.value.blocked["load"]


def test_sram_range_error_names_index_and_field(cfg):
    b, x = _builder(cfg)
    b.load(MemType.INP, sram=cfg.inp_depth - 1, buf=x, y=1, x=2)
    b.finish()
    with pytest.raises(SramRangeError, match=r"instruction 0 \(LOAD INP.*field sram_base") as e:
        simulate(b.build())
    assert e.value.index == 0 and e.value.field == "sram_base"


def test_sram_range_error_in_micro_op_loop(cfg):
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.gemm(uop_bgn=0, uop_end=1, iter_out=3, dst_factor_out=cfg.acc_depth - 1)
    b.finish()
    with pytest.raises(SramRangeError, match=r"instruction 1 \(GEMM.*field dst: ACC index") as e:
        simulate(b.build())
    assert e.value.field == "dst"
    b = ProgramBuilder(cfg)
    b.load_uop(b.uop_kernel([Uop(0, 0, 0)]))
    b.alu(AluOp.ADD, uop_bgn=0, uop_end=1, iter_in=cfg.acc_depth + 1, src_factor_in=1)
    b.finish()
    with pytest.raises(SramRangeError, match="field src"):
        simulate(b.build())
    b = ProgramBuilder(cfg)
    b.gemm(uop_bgn=0, uop_end=cfg.uop_depth + 1)
    b.finish()
    with pytest.raises(SramRangeError, match="field uop_end"):
        simulate(b.build())


def test_dram_range_errors(cfg):
    b, x = _builder(cfg)
    b.load(MemType.INP, sram=0, buf=10**6, y=1, x=1)
    b.finish()
    with pytest.raises(DramRangeError, match=r"instruction 0 .*field dram_base") as e:
        simulate(b.build())
    assert e.value.field == "dram_base"
    b, x = _builder(cfg)
    b.nop(Module.COMPUTE)
    b.load(MemType.INP, sram=0, buf=x, y=4, x=1, stride=1000)
    b.finish()
    with pytest.raises(DramRangeError, match=r"instruction 1 .*field y_size/x_stride"):
        simulate(b.build())


@pytest.mark.parametrize(
    "insn, message",
    [
        (MemInsn(opcode=Opcode.LOAD, mem_type=MemType.INP, x_size=1, y_size=1, pop_prev=True),
         "load module has no pop_prev"),
        (MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT, push_next=True),
         "store module has no push_next"),
        (MemInsn(opcode=Opcode.STORE, mem_type=MemType.INP, x_size=1, y_size=1),
         "STORE must target OUT"),
        (MemInsn(opcode=Opcode.LOAD, mem_type=MemType.OUT, x_size=1, y_size=1),
         "LOAD cannot target OUT"),
        (MemInsn(opcode=Opcode.LOAD, mem_type=MemType.UOP, x_size=1, y_size=1, x_pad_0=1),
         "UOP loads cannot be padded"),
        (MemInsn(opcode=Opcode.STORE, mem_type=MemType.OUT, x_size=1, y_size=1, y_pad_1=1),
         "STORE cannot be padded"),
    ],
)  # fmt: skip
def test_invalid_instructions(cfg, insn, message):
    b, _ = _builder(cfg)
    b.nop(Module.COMPUTE)
    b.emit(insn)
    b.finish()
    with pytest.raises(InvalidInstructionError, match=rf"instruction 1 \(.*{message}") as e:
        simulate(b.build())
    assert e.value.index == 1


def test_uop_end_before_uop_bgn(cfg):
    b = ProgramBuilder(cfg)
    b.gemm(uop_bgn=3, uop_end=1)
    b.finish()
    with pytest.raises(InvalidInstructionError, match="instruction 0 .*uop_end=1 < uop_bgn=3"):
        simulate(b.build())


def test_watchdog(cfg, rng):
    prog, _ = EXAMPLES["blocked_gemm_vt1"](cfg, rng)
    with pytest.raises(WatchdogError, match="max_cycles=5000") as e:
        simulate(prog, max_cycles=5000)
    assert e.value.cycle > 5000 and e.value.index is not None


def test_pending_at_finish(cfg):
    b, x = _builder(cfg)
    b.load(MemType.INP, sram=0, buf=x, y=16, x=1)  # long, and nothing waits for it
    b.finish()
    with pytest.raises(PendingAtFinishError, match=r"(?s)pending:.*LOAD INP.*still running") as e:
        simulate(b.build())
    assert e.value.pending == [0]
    b, x = _builder(cfg)
    b.finish()
    b.nop(Module.STORE, pop_prev=True)  # never gets its token
    with pytest.raises(PendingAtFinishError, match="not started"):
        simulate(b.build())


def test_no_finish(cfg):
    b, _ = _builder(cfg)
    b.nop(Module.COMPUTE)
    with pytest.raises(NoFinishError, match="none was FINISH"):
        simulate(b.build())


def test_token_counter_overflow(cfg):
    """Compute is busy with a long GEMM while the load module pushes 256 tokens."""
    # queues deep enough to hold every pop behind the GEMM (the small config's are shallow)
    cfg = HwConfig.from_dict(cfg.to_dict() | {"CMD_QUEUE_DEPTH": 512}, name=cfg.name)
    b = ProgramBuilder(cfg)
    b.gemm(reset=True, uop_bgn=0, uop_end=1, iter_out=2000)
    for _ in range(cfg.token_max + 1):
        b.nop(Module.LOAD, push_next=True)
    for _ in range(cfg.token_max + 1):
        b.nop(Module.COMPUTE, pop_prev=True)
    b.finish()
    with pytest.raises(TokenOverflowError, match="token counter l2g overflows"):
        simulate(b.build())


def test_every_fault_is_a_sim_error():
    faults = (DeadlockError, SramRangeError, DramRangeError, InvalidInstructionError,
              WatchdogError, PendingAtFinishError, NoFinishError, TokenOverflowError)  # fmt: skip
    for cls in faults:
        assert issubclass(cls, SimError)


def test_failed_run_leaves_caller_dram_untouched_by_default(cfg, rng):
    prog, _ = EXAMPLES["relu"](cfg, rng)
    before = prog.dram.copy()
    with pytest.raises(WatchdogError):
        simulate(prog, max_cycles=10)
    assert np.array_equal(prog.dram, before)
