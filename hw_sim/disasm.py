"""Readable listings of instructions and programs, with dependency flags and target module.

One line per instruction, e.g.

    12  load     LOAD  INP  sram=0x0100 dram=0x00000040 y=64 x=4 stride=16  pop:g2l push:l2g

Token flags are shown by the counter they touch (see docs/timing-model.md), which says more than
VTA's pop_prev/pop_next: `pop:g2l` = this instruction waits for a "buffer free" token from compute.
"""

from __future__ import annotations

from hw_sim.isa import (
    AluInsn,
    FinishInsn,
    GemmInsn,
    Insn,
    MemInsn,
    Module,
    Opcode,
    insn_module,
)

# Which counter each (module, flag) touches; None = the module has no such queue.
TOKEN_OF_FLAG: dict[Module, dict[str, str | None]] = {
    Module.LOAD: {"pop_prev": None, "pop_next": "g2l", "push_prev": None, "push_next": "l2g"},
    Module.COMPUTE: {"pop_prev": "l2g", "pop_next": "s2g", "push_prev": "g2l", "push_next": "g2s"},
    Module.STORE: {"pop_prev": "g2s", "pop_next": None, "push_prev": "s2g", "push_next": None},
}


def deps_text(insn: Insn) -> str:
    """`pop:x push:y` for the flags set (`pop_prev!` for a flag the module does not have)."""
    mod = insn_module(insn)
    parts = []
    for flag in ("pop_prev", "pop_next", "push_prev", "push_next"):
        if getattr(insn, flag):
            tok = TOKEN_OF_FLAG[mod][flag]
            kind = flag.split("_")[0]
            parts.append(f"{kind}:{tok}" if tok else f"{flag}!")
    return " ".join(parts)


def _loop_text(insn: GemmInsn | AluInsn, src_name: str) -> str:
    return (
        f"uop[{insn.uop_bgn}:{insn.uop_end}] x {insn.iter_out}x{insn.iter_in} "
        f"dst+=({insn.dst_factor_out},{insn.dst_factor_in}) "
        f"{src_name}+=({insn.src_factor_out},{insn.src_factor_in})"
    )


def disasm(insn: Insn) -> str:
    """One instruction as text (no index, no module)."""
    if isinstance(insn, MemInsn):
        name = "STORE" if insn.opcode == Opcode.STORE else "LOAD"
        if insn.x_size == 0:
            body = f"{name} {insn.mem_type.name} NOP"
        else:
            body = (
                f"{name} {insn.mem_type.name} sram={insn.sram_base:#06x} "
                f"dram={insn.dram_base:#010x} y={insn.y_size} x={insn.x_size} "
                f"stride={insn.x_stride}"
            )
            pads = (insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1)
            if any(pads):
                body += f" pad(y0,y1,x0,x1)={pads}"
    elif isinstance(insn, GemmInsn):
        body = "GEMM RESET " if insn.reset else "GEMM "
        body += _loop_text(insn, "src") + f" wgt+=({insn.wgt_factor_out},{insn.wgt_factor_in})"
    elif isinstance(insn, AluInsn):
        operand = f"imm={insn.imm}" if insn.use_imm else "tensor"
        body = f"ALU {insn.alu_op.name} {operand} " + _loop_text(insn, "src")
    elif isinstance(insn, FinishInsn):
        body = "FINISH"
    else:
        return repr(insn)
    deps = deps_text(insn)
    return f"{body}  {deps}" if deps else body


def listing_line(index: int, insn: Insn) -> str:
    return f"{index:6d}  {insn_module(insn).name.lower():<8} {disasm(insn)}"


def listing(insns: list[Insn]) -> str:
    """A whole instruction stream, one numbered line per instruction."""
    return "\n".join(listing_line(i, insn) for i, insn in enumerate(insns))
