"""The VTA instruction set: instruction records, micro-ops, and their bit-exact encodings.

Instructions are 128 bits, stored little-endian as two 64-bit words. Fields are packed LSB-first
in declaration order with the C bit-field rule VTA's `hw_spec.h` relies on: a field that does not
fit in what is left of the current 64-bit word starts at the next word. At the default config
this reproduces VTA's layout exactly (including the padding gaps at bits 58-63 and 63); at other
configs the index-field widths follow the SRAM depths of `HwConfig`.

Records are immutable; change one with `dataclasses.replace`. Encoding checks every field against
its width and raises `IsaFieldError` naming the instruction kind, the field and its range.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from functools import cache

import numpy as np

from hw_sim.config import (
    ALU_IMM_WIDTH,
    INSN_WIDTH,
    LOOP_ITER_WIDTH,
    MEMOP_DRAM_ADDR_WIDTH,
    MEMOP_PAD_WIDTH,
    MEMOP_SIZE_WIDTH,
    MEMOP_SRAM_ADDR_WIDTH,
    MEMOP_STRIDE_WIDTH,
    UOP_WIDTH,
    HwConfig,
)


class Opcode(IntEnum):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4


class MemType(IntEnum):
    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4
    ACC_8BIT = 5  # int8 in DRAM, sign-extended into the int32 ACC buffer


class AluOp(IntEnum):
    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3  # arithmetic shift right; a negative amount shifts left
    MUL = 4


class Module(IntEnum):
    """The accelerator's modules, in the order their queues are named (load=1.. as in VTA)."""

    FETCH = 0
    LOAD = 1
    COMPUTE = 2
    STORE = 3


class IsaError(ValueError):
    """Base class of instruction-set errors."""


class IsaFieldError(IsaError):
    """A field value does not fit its encoding."""


class MalformedInstruction(IsaError):
    """A 128-bit word that is not a valid instruction (bad opcode, memory type, padding...)."""


@dataclass(frozen=True)
class _Deps:
    """Dependency-token flags, common to every instruction (bits 3-6)."""

    pop_prev: bool = False
    pop_next: bool = False
    push_prev: bool = False
    push_next: bool = False


@dataclass(frozen=True)
class MemInsn(_Deps):
    """LOAD (opcode 0) or STORE (opcode 1) of a 2-D block between DRAM and an SRAM.

    DRAM addresses (`dram_base`, `x_stride`) are in elements of `mem_type`; `sram_base` in SRAM
    rows. `x_size == 0` makes the instruction a NOP that only pops and pushes tokens.
    """

    opcode: Opcode = Opcode.LOAD
    mem_type: MemType = MemType.INP
    sram_base: int = 0
    dram_base: int = 0
    y_size: int = 0
    x_size: int = 0
    x_stride: int = 0
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0

    @property
    def is_nop(self) -> bool:
        return self.x_size == 0 or self.y_size == 0


@dataclass(frozen=True)
class _MicroOpLoop(_Deps):
    """The two-level micro-op loop GEMM and ALU share: micro-ops [uop_bgn, uop_end) run for
    o < iter_out, i < iter_in, with row indices dst = u.dst + o*dst_factor_out + i*dst_factor_in
    (likewise src)."""

    reset: bool = False
    uop_bgn: int = 0
    uop_end: int = 0
    iter_out: int = 1
    iter_in: int = 1
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0

    @property
    def n_uops(self) -> int:
        """Micro-ops executed (loop trip count times kernel length)."""
        return self.iter_out * self.iter_in * max(0, self.uop_end - self.uop_bgn)


@dataclass(frozen=True)
class GemmInsn(_MicroOpLoop):
    """GEMM over a two-level loop of micro-ops [uop_bgn, uop_end).

    for o < iter_out, i < iter_in, u in uops: ACC[dst] += INP[src] . WGT[wgt]^T, with
    dst = u.dst + o*dst_factor_out + i*dst_factor_in (likewise src, wgt). `reset` zeroes ACC[dst].
    """

    wgt_factor_out: int = 0
    wgt_factor_in: int = 0

    @property
    def opcode(self) -> Opcode:
        return Opcode.GEMM


@dataclass(frozen=True)
class AluInsn(_MicroOpLoop):
    """ALU over a two-level micro-op loop: ACC[dst] = op(ACC[dst], imm if use_imm else ACC[src])."""

    alu_op: AluOp = AluOp.MIN
    use_imm: bool = False
    imm: int = 0  # signed, ALU_IMM_WIDTH bits

    @property
    def opcode(self) -> Opcode:
        return Opcode.ALU


@dataclass(frozen=True)
class FinishInsn(_Deps):
    """FINISH: ends the run once executed by the compute module."""

    @property
    def opcode(self) -> Opcode:
        return Opcode.FINISH


Insn = MemInsn | GemmInsn | AluInsn | FinishInsn


@dataclass(frozen=True)
class Uop:
    """A 32-bit micro-op: SRAM row indices (dst: ACC; src: INP for GEMM, ACC for ALU; wgt: WGT)."""

    dst: int
    src: int
    wgt: int = 0


def insn_module(insn: Insn) -> Module:
    """The module whose queue fetch dispatches `insn` to (VTA's dispatch rule)."""
    if isinstance(insn, MemInsn):
        if insn.opcode == Opcode.STORE:
            return Module.STORE
        if insn.mem_type in (MemType.INP, MemType.WGT):
            return Module.LOAD
    return Module.COMPUTE


# ---------------------------------------------------------------------------------------------
# Bit layouts


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    signed: bool = False

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    def range_text(self) -> str:
        if self.signed:
            return f"{-(1 << (self.width - 1))}..{(1 << (self.width - 1)) - 1}"
        return f"0..{self.mask}"


def _pack(spec: list[tuple[str, int]] | list[tuple[str, int, bool]]) -> tuple[Field, ...]:
    """Place fields LSB-first with the 64-bit-word rule of C bit-fields of type uint64_t."""
    out, pos = [], 0
    for item in spec:
        name, width = item[0], item[1]
        signed = bool(item[2]) if len(item) > 2 else False
        if pos // 64 != (pos + width - 1) // 64:
            pos = (pos // 64 + 1) * 64
        out.append(Field(name, pos, width, signed))
        pos += width
    if pos > INSN_WIDTH:
        raise IsaError(f"instruction layout needs {pos} bits > {INSN_WIDTH}")
    return tuple(out)


_HEADER = [("opcode", 3), ("pop_prev", 1), ("pop_next", 1), ("push_prev", 1), ("push_next", 1)]


@dataclass(frozen=True)
class IsaLayout:
    """Bit positions of every field of every instruction kind, and of the micro-op, for a config."""

    mem: tuple[Field, ...]
    gemm: tuple[Field, ...]
    alu: tuple[Field, ...]
    finish: tuple[Field, ...]
    uop: tuple[Field, ...]

    def for_opcode(self, opcode: int) -> tuple[Field, ...]:
        if opcode in (Opcode.LOAD, Opcode.STORE):
            return self.mem
        return {Opcode.GEMM: self.gemm, Opcode.ALU: self.alu, Opcode.FINISH: self.finish}[opcode]


@cache
def isa_layout(cfg: HwConfig) -> IsaLayout:
    uop_bgn_w = cfg.log_uop_depth
    uop_end_w = cfg.log_uop_depth + 1
    loop = [
        ("uop_bgn", uop_bgn_w),
        ("uop_end", uop_end_w),
        ("iter_out", LOOP_ITER_WIDTH),
        ("iter_in", LOOP_ITER_WIDTH),
        ("dst_factor_out", cfg.log_acc_depth),
        ("dst_factor_in", cfg.log_acc_depth),
    ]
    mem = _pack(
        _HEADER
        + [
            ("mem_type", 3),
            ("sram_base", MEMOP_SRAM_ADDR_WIDTH),
            ("dram_base", MEMOP_DRAM_ADDR_WIDTH),
            ("y_size", MEMOP_SIZE_WIDTH),
            ("x_size", MEMOP_SIZE_WIDTH),
            ("x_stride", MEMOP_STRIDE_WIDTH),
            ("y_pad_0", MEMOP_PAD_WIDTH),
            ("y_pad_1", MEMOP_PAD_WIDTH),
            ("x_pad_0", MEMOP_PAD_WIDTH),
            ("x_pad_1", MEMOP_PAD_WIDTH),
        ]
    )
    gemm = _pack(
        _HEADER
        + [("reset", 1)]
        + loop
        + [
            ("src_factor_out", cfg.log_inp_depth),
            ("src_factor_in", cfg.log_inp_depth),
            ("wgt_factor_out", cfg.log_wgt_depth),
            ("wgt_factor_in", cfg.log_wgt_depth),
        ]
    )
    alu = _pack(
        _HEADER
        + [("reset", 1)]
        + loop
        + [
            ("src_factor_out", cfg.log_acc_depth),
            ("src_factor_in", cfg.log_acc_depth),
            ("alu_op", 3),
            ("use_imm", 1),
            ("imm", ALU_IMM_WIDTH, True),
        ]
    )
    finish = _pack(_HEADER)
    uop = []
    pos = 0
    for name, width in (
        ("dst", cfg.uop_dst_width),
        ("src", cfg.uop_src_width),
        ("wgt", cfg.uop_wgt_width),
    ):
        uop.append(Field(name, pos, width))
        pos += width
    assert pos <= UOP_WIDTH  # HwConfig validation guarantees it
    return IsaLayout(mem, gemm, alu, finish, tuple(uop))


# ---------------------------------------------------------------------------------------------
# Encode / decode

_KIND_NAME = {MemInsn: "LOAD/STORE", GemmInsn: "GEMM", AluInsn: "ALU", FinishInsn: "FINISH"}


def _fields_of(insn: Insn, layout: IsaLayout) -> tuple[Field, ...]:
    if isinstance(insn, MemInsn):
        return layout.mem
    if isinstance(insn, GemmInsn):
        return layout.gemm
    if isinstance(insn, AluInsn):
        return layout.alu
    if isinstance(insn, FinishInsn):
        return layout.finish
    raise IsaError(f"not an instruction: {insn!r}")


def encode(insn: Insn, cfg: HwConfig) -> int:
    """The instruction as a 128-bit integer (bit i of the result = bit i of the instruction)."""
    word = 0
    kind = "LOAD" if getattr(insn, "opcode", None) == Opcode.LOAD else _KIND_NAME[type(insn)]
    if isinstance(insn, MemInsn) and insn.opcode == Opcode.STORE:
        kind = "STORE"
    for f in _fields_of(insn, isa_layout(cfg)):
        value = int(getattr(insn, f.name))
        if f.signed:
            lo, hi = -(1 << (f.width - 1)), (1 << (f.width - 1)) - 1
            if not lo <= value <= hi:
                raise IsaFieldError(
                    f"{kind} field {f.name}={value} out of range {f.range_text()} ({f.width} bits)"
                )
            value &= f.mask
        elif not 0 <= value <= f.mask:
            raise IsaFieldError(
                f"{kind} field {f.name}={value} out of range {f.range_text()} ({f.width} bits)"
            )
        word |= value << f.lsb
    return word


def _used_mask(fs: tuple[Field, ...]) -> int:
    m = 0
    for f in fs:
        m |= f.mask << f.lsb
    return m


def decode(word: int, cfg: HwConfig, index: int | None = None) -> Insn:
    """Inverse of `encode`. Raises `MalformedInstruction` (naming `index` if given)."""
    where = f"instruction {index}" if index is not None else "instruction"
    opcode = word & 0x7
    if opcode not in Opcode._value2member_map_:
        raise MalformedInstruction(f"{where}: unknown opcode {opcode} (valid: 0-4)")
    layout = isa_layout(cfg)
    fs = layout.for_opcode(opcode)
    stray = word & ~_used_mask(fs) & ((1 << INSN_WIDTH) - 1)
    if stray:
        raise MalformedInstruction(
            f"{where}: {Opcode(opcode).name} has nonzero bits outside its fields "
            f"(mask {stray:#034x})"
        )
    vals = {}
    for f in fs:
        v = (word >> f.lsb) & f.mask
        if f.signed and v >> (f.width - 1):
            v -= 1 << f.width
        vals[f.name] = v
    deps = {k: bool(vals.pop(k)) for k in ("pop_prev", "pop_next", "push_prev", "push_next")}
    op = vals.pop("opcode")
    if op in (Opcode.LOAD, Opcode.STORE):
        if vals["mem_type"] not in MemType._value2member_map_:
            raise MalformedInstruction(
                f"{where}: unknown memory type {vals['mem_type']} (valid: 0-5)"
            )
        vals["mem_type"] = MemType(vals["mem_type"])
        return MemInsn(opcode=Opcode(op), **vals, **deps)
    if op == Opcode.GEMM:
        vals["reset"] = bool(vals["reset"])
        return GemmInsn(**vals, **deps)
    if op == Opcode.ALU:
        if vals["alu_op"] not in AluOp._value2member_map_:
            raise MalformedInstruction(f"{where}: unknown ALU opcode {vals['alu_op']} (valid: 0-4)")
        vals["alu_op"] = AluOp(vals["alu_op"])
        vals["reset"] = bool(vals["reset"])
        vals["use_imm"] = bool(vals["use_imm"])
        return AluInsn(**vals, **deps)
    return FinishInsn(**deps)


def encode_program(insns: list[Insn], cfg: HwConfig) -> np.ndarray:
    """Instructions as an (n, 2) little-endian uint64 array (word 0 = bits 0-63)."""
    out = np.zeros((len(insns), 2), dtype="<u8")
    for i, insn in enumerate(insns):
        try:
            w = encode(insn, cfg)
        except IsaFieldError as e:
            raise IsaFieldError(f"instruction {i}: {e}") from None
        out[i, 0] = w & 0xFFFF_FFFF_FFFF_FFFF
        out[i, 1] = w >> 64
    return out


def decode_program(words: np.ndarray, cfg: HwConfig) -> list[Insn]:
    words = np.asarray(words, dtype="<u8").reshape(-1, 2)
    return [decode(int(lo) | (int(hi) << 64), cfg, i) for i, (lo, hi) in enumerate(words)]


def encode_uops(uops: list[Uop] | np.ndarray, cfg: HwConfig) -> np.ndarray:
    """Micro-ops as uint32 words, from `Uop` records or an (n, 3) int array of (dst, src, wgt)."""
    lay = isa_layout(cfg).uop
    arr = (
        np.array([(u.dst, u.src, u.wgt) for u in uops], dtype=np.int64).reshape(-1, 3)
        if not isinstance(uops, np.ndarray)
        else np.asarray(uops, dtype=np.int64).reshape(-1, 3)
    )
    words = np.zeros(len(arr), dtype=np.uint64)
    for col, f in enumerate(lay):
        v = arr[:, col]
        bad = (v < 0) | (v > f.mask)
        if bad.any():
            i = int(np.argmax(bad))
            raise IsaFieldError(
                f"micro-op {i}: field {f.name}={int(v[i])} out of range {f.range_text()} "
                f"({f.width} bits)"
            )
        words |= v.astype(np.uint64) << np.uint64(f.lsb)
    return words.astype(np.uint32)


def decode_uops(words: np.ndarray, cfg: HwConfig) -> np.ndarray:
    """uint32 micro-op words → (n, 3) int64 array of (dst, src, wgt)."""
    w = np.asarray(words, dtype=np.uint32).astype(np.int64)
    lay = isa_layout(cfg).uop
    return np.stack([(w >> f.lsb) & f.mask for f in lay], axis=1)


def field_names(insn: Insn) -> list[str]:
    return [f.name for f in fields(insn)]
