"""ISA: bit-exact encode/decode round trips, field-range errors, malformed words."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_sim.config import load_config
from hw_sim.isa import (
    AluInsn,
    AluOp,
    FinishInsn,
    GemmInsn,
    IsaFieldError,
    MalformedInstruction,
    MemInsn,
    MemType,
    Opcode,
    Uop,
    decode,
    decode_uops,
    encode,
    encode_uops,
    isa_layout,
)

CONFIGS = {name: load_config(name) for name in ("default", "small")}
DEPS = ("pop_prev", "pop_next", "push_prev", "push_next")


def _field_values(fields, skip=()):
    """A strategy of dicts with one valid value per field of a layout."""
    out = {}
    for f in fields:
        if f.name in ("opcode",) + tuple(skip):
            continue
        if f.signed:
            out[f.name] = st.integers(-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1)
        elif f.width == 1:
            out[f.name] = st.booleans()
        else:
            out[f.name] = st.integers(0, f.mask)
    return st.fixed_dictionaries(out)


def insn_strategy(cfg):
    lay = isa_layout(cfg)
    mem = st.tuples(
        _field_values(lay.mem, skip=("mem_type",)),
        st.sampled_from([Opcode.LOAD, Opcode.STORE]),
        st.sampled_from(list(MemType)),
    ).map(lambda t: MemInsn(opcode=t[1], mem_type=t[2], **t[0]))
    gemm = _field_values(lay.gemm).map(lambda d: GemmInsn(**d))
    alu = st.tuples(_field_values(lay.alu, skip=("alu_op",)), st.sampled_from(list(AluOp))).map(
        lambda t: AluInsn(alu_op=t[1], **t[0])
    )
    fin = _field_values(lay.finish).map(lambda d: FinishInsn(**d))
    return st.one_of(mem, gemm, alu, fin)


@pytest.mark.parametrize("name", CONFIGS)
def test_round_trip_every_instruction(name):
    cfg = CONFIGS[name]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(insn_strategy(cfg))
    def check(insn):
        word = encode(insn, cfg)
        assert 0 <= word < 1 << 128
        assert decode(word, cfg) == insn

    check()


@pytest.mark.parametrize("name", CONFIGS)
def test_round_trip_uops(name):
    cfg = CONFIGS[name]
    lay = isa_layout(cfg).uop

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.tuples(*(st.integers(0, f.mask) for f in lay)), min_size=1, max_size=20))
    def check(triples):
        uops = [Uop(*t) for t in triples]
        back = decode_uops(encode_uops(uops, cfg), cfg)
        assert [tuple(r) for r in back.tolist()] == triples

    check()


def test_default_layout_matches_vta():
    """Spot checks of VTA's bit positions (hw_spec.h) at the default config."""
    cfg = CONFIGS["default"]
    lay = isa_layout(cfg)
    pos = {f.name: (f.lsb, f.width) for f in lay.gemm}
    assert pos["uop_bgn"] == (8, 13) and pos["uop_end"] == (21, 14)
    assert pos["iter_out"] == (35, 14) and pos["iter_in"] == (49, 14)
    assert pos["dst_factor_out"] == (64, 11) and pos["wgt_factor_in"] == (118, 10)
    alu = {f.name: (f.lsb, f.width) for f in lay.alu}
    assert alu["alu_op"] == (108, 3) and alu["use_imm"] == (111, 1) and alu["imm"] == (112, 16)
    mem = {f.name: (f.lsb, f.width) for f in lay.mem}
    assert mem["dram_base"] == (26, 32) and mem["y_size"] == (64, 16)
    assert mem["x_pad_1"] == (124, 4)
    assert [(f.lsb, f.width) for f in lay.uop] == [(0, 11), (11, 11), (22, 10)]
    # A FINISH with push flags: opcode 3 at bits 0-2, deps at 3-6.
    assert encode(FinishInsn(pop_prev=True, push_next=True), cfg) == 3 | (1 << 3) | (1 << 6)


@pytest.mark.parametrize(
    "insn, field",
    [
        (GemmInsn(uop_bgn=1 << 13), "uop_bgn"),
        (GemmInsn(iter_out=1 << 14), "iter_out"),
        (AluInsn(imm=1 << 15), "imm"),
        (AluInsn(imm=-(1 << 15) - 1), "imm"),
        (MemInsn(y_pad_0=16), "y_pad_0"),
        (MemInsn(dram_base=-1), "dram_base"),
    ],
)
def test_field_out_of_range_names_field(insn, field):
    with pytest.raises(IsaFieldError, match=rf"{field}=.* out of range"):
        encode(insn, CONFIGS["default"])


def test_builder_names_the_instruction_index(cfg):
    from hw_sim.builder import ProgramBuilder

    b = ProgramBuilder(cfg)
    b.finish()
    with pytest.raises(IsaFieldError, match=r"instruction 1: GEMM field iter_in=16384 out of"):
        b.gemm(iter_in=1 << 14)


def test_uop_field_out_of_range(cfg):
    with pytest.raises(IsaFieldError, match="micro-op 1: field dst"):
        encode_uops([Uop(0, 0, 0), Uop(cfg.acc_depth, 0, 0)], cfg)


def test_malformed_words(cfg):
    with pytest.raises(MalformedInstruction, match="instruction 7: unknown opcode 5"):
        decode(5, cfg, index=7)
    with pytest.raises(MalformedInstruction, match="unknown memory type 6"):
        decode(encode(MemInsn(), cfg) | (6 << 7), cfg)
    with pytest.raises(MalformedInstruction, match="nonzero bits outside its fields"):
        decode(encode(FinishInsn(), cfg) | (1 << 100), cfg)
    with pytest.raises(MalformedInstruction, match="unknown ALU opcode 7"):
        alu_lsb = next(f.lsb for f in isa_layout(cfg).alu if f.name == "alu_op")
        decode(encode(AluInsn(), cfg) | (7 << alu_lsb), cfg)
