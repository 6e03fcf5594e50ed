"""Pass `alias_inplace_alu`: epilogue stages update the accumulator tile in place."""

from __future__ import annotations

import pytest
from vta_helpers import allocs, small_conv

from compiler.tir.nodes import Load, PrimFunc
from compiler.tir.printer import print_func
from compiler.tir.visit import Mutator
from compiler.vta.inplace import alias_inplace_alu
from compiler.vta.intrin import ACC
from compiler.vta.nest import VtaPassError


def test_alias_epilogue_into_accumulator(cfg):
    _, f = small_conv(cfg)
    before = allocs(f)
    assert {"conv2d", "conv2d.shr", "conv2d.bias", "conv2d.clip.max", "conv2d.clip.min"} <= set(
        before
    )
    g = alias_inplace_alu(f)
    after = allocs(g)
    acc = sorted(n for n, b in after.items() if b.scope == ACC)
    assert acc == ["bias.acc", "conv2d"]  # the whole epilogue runs in the GEMM's rows
    text = print_func(g)
    assert (
        "conv2d[i_2, j_2, k_2, l_2, m_2, n_2] = conv2d[i_2, j_2, k_2, l_2, m_2, n_2] >> 8" in text
    )
    assert "int8(conv2d[" in text  # the store reads the accumulator tile


def test_alias_reduction_initialized_in_place(cfg):
    """The GEMM-unit bias starts from the shifted tile: it accumulates in the same rows."""
    _, f = small_conv(cfg, bias_on="gemm")
    g = alias_inplace_alu(f)
    acc = sorted(n for n, b in allocs(g).items() if b.scope == ACC)
    assert acc == ["conv2d"]
    text = print_func(g)
    assert "= conv2d[i_5, j_5, k_4, l_3, m_3, n_3]\n" not in text  # self-copy init removed
    assert "bias_digits.wgt[" in text and "bias_row.inp[" in text


def test_alias_rejects_operand_read_later(cfg):
    _, f = small_conv(cfg)
    # Make the bias stage read the GEMM tile again after the shift consumed it in place.
    conv = allocs(f)["conv2d"]
    shr = allocs(f)["conv2d.shr"]

    class _Redirect(Mutator):
        def visit_Load(self, node):  # noqa: N802
            return Load(conv, node.indices) if node.buffer is shr else node

    bad = PrimFunc(f.name, f.params, _Redirect().visit(f.body))
    with pytest.raises(VtaPassError, match="read again later"):
        alias_inplace_alu(bad)
