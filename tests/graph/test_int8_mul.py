"""The graph side of the ALU's MUL ops: HardSwish's integer formula and its error, the
HardSwish pattern rewrite, the int8 rewrite of HardSwish/Mul, and the partition with and
without `HwConfig.ALU_MUL`."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.accel_int8 import MUL_REASON
from compiler.graph.accel_support import CPU_REASONS
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.hardswish_int import (
    INT32_MAX,
    accumulator,
    gate_product,
    hardswish_int,
    output_error_lsb,
    reference,
)
from compiler.graph.passes.hardswish_pattern import fuse_hardswish_pattern
from compiler.graph.passes.int8_mul import int8_mul
from compiler.graph.pipeline import compile_for_accel
from hw_sim.config import load_config
from tests.model.helpers import samples
from tests.model.mul_blocks import hardswish_pattern, mul_block, mul_config

EXPONENT_PAIRS = [(ex, ey) for ex in range(-10, 1) for ey in range(ex - 3, ex + 4)]


@pytest.mark.parametrize("ex,ey", EXPONENT_PAIRS)
def test_hardswish_int_is_overflow_safe_and_within_half_an_lsb(ex, ey):
    hs = hardswish_int(ex, ey)
    q = np.arange(-128, 128)
    p = gate_product(q, hs.offset, hs.six)
    assert np.abs(p * hs.mult).max() <= INT32_MAX  # the MUL cannot wrap
    assert 1 <= hs.mult < 1 << 15 and hs.six < 1 << 15  # 16-bit signed ALU immediates
    assert 0 <= hs.bias <= 512 and 1 <= hs.shift <= 15  # B only lifts exact ties
    if (ex, ey) not in ((-10, -12), (-10, -11), (-9, -12), (-9, -8)):
        # exactly HardSwish rounded half up (as every requantize rounds), ties included
        p = gate_product(q, hs.offset, hs.six)  # HardSwish(x) = p * 2^(2 ex) / 6, exactly
        num, den = (p << (2 * ex - ey), 6) if 2 * ex - ey >= 0 else (p, 6 << (ey - 2 * ex))
        want = np.clip((2 * num + den) // (2 * den), -128, 127)  # floor(v + 1/2), in integers
        np.testing.assert_array_equal(reference(q, hs), want)
    err, _ = output_error_lsb(ex, ey)
    # the output's rounding, plus what the fixed-point 1/6 adds: < 0.003 LSB while |x| may reach
    # 1/4 or more (ex >= -9); a small input range needs a large gate, so a shorter multiplier
    assert err <= (0.503 if ex >= -9 else 0.506)


@pytest.mark.parametrize("s,t", [(0.7, 0.3), (-1.3, -2.0), (2.5, 0.01), (1.0, 7.5)])
def test_hardswish_int_with_an_affine_after_it(s, t):
    for ex, ey in [(-4, -4), (-5, -3), (-6, -5)]:
        hs = hardswish_int(ex, ey, s, t)
        a = accumulator(np.arange(-128, 128), hs.offset, hs.six, hs.mult, hs.pre_shift, hs.bias)
        assert np.abs(a).max() + (1 << (hs.shift - 1)) <= INT32_MAX
        assert abs(hs.mult) < 1 << 15 and abs(hs.bias) < 1 << 15
        err, _ = output_error_lsb(ex, ey, s, t)
        assert err <= 0.503  # the rounding, the fixed-point s/6 and t (|t| < 2^-7 LSB)


def test_hardswish_int_refuses_what_the_alu_cannot_hold():
    with pytest.raises(ValueError, match="offset 3 is not on the int8 grid"):
        hardswish_int(1, 0)
    with pytest.raises(ValueError, match="too few bits"):
        hardswish_int(-11, -11)


def test_hardswish_int_reference_matches_float_up_to_ties():
    for ex, ey in [(-4, -4), (-5, -4), (-6, -6)]:
        q = np.arange(-128, 128)
        x = q * 2.0**ex
        want = np.clip(x * np.clip(x + 3, 0, 6) / 6 / 2.0**ey, -128, 127)
        got = reference(q, hardswish_int(ex, ey)).astype(np.float64)
        far = np.abs(got - want) > 0.5 + 1e-9
        assert not far.any()


def _pattern_graph():
    b = GraphBuilder("hs", opset=13)
    b.output(hardswish_pattern(b, b.input("x", (1, 16, 4, 4)), "hs"))
    return b.build()


def test_hardswish_pattern_becomes_one_node_with_the_same_values(rng):
    g = _pattern_graph()
    f = fuse_hardswish_pattern(g)
    assert [n.op for n in f.nodes] == ["HardSwish"] and f.outputs == g.outputs
    feed = {"x": rng.standard_normal((1, 16, 4, 4)).astype(np.float32) * 4}
    np.testing.assert_allclose(run_graph(f, feed)[f.outputs[0]], run_graph(g, feed)[g.outputs[0]],
                               rtol=1e-6, atol=1e-6)  # fmt: skip


def test_hardswish_pattern_needs_single_use_intermediates():
    b = GraphBuilder("hs", opset=13)
    x = b.input("x", (1, 16, 4, 4))
    y = hardswish_pattern(b, x, "hs")
    clip = next(n for n in b.nodes if n.op == "Clip").outputs[0]
    b.output(y, clip)
    g = b.build()
    assert fuse_hardswish_pattern(g).op_counts() == g.op_counts()


def _quantized(cfg, g, **options):
    if cfg.ALU_MUL:  # power-of-two grids: the integer formulas' domain (free scales stay float)
        options = {"requant": "shift", **options}
    return compile_for_accel(g, cfg, samples(g, 2), **options).graph


def test_int8_mul_is_the_identity_without_mul():
    cfg = load_config("default")
    g = _quantized(cfg, mul_block())
    assert int8_mul(g, cfg) is g


def test_without_mul_the_reasons_name_the_mul_config():
    assert MUL_REASON in CPU_REASONS["HardSwish"] and MUL_REASON in CPU_REASONS["Mul"]
    assert "--config mul" in MUL_REASON and "Chisel/HLS" in MUL_REASON


@pytest.mark.parametrize("config", ["default", "small"])
def test_with_mul_hardswish_and_mul_go_to_the_accelerator(config):
    g = _quantized(mul_config(config), mul_block(), float_squeeze_excite=False)
    by_op = {}
    for n in g.nodes:
        by_op.setdefault(n.op, []).append(n)
    assert {n.target for n in by_op["vtac.hardswish"]} == {"accel"}
    assert len(by_op["vtac.hardswish"]) == 2 and len(by_op["vtac.mul"]) == 2
    assert {n.target for n in by_op["vtac.mul"]} == {"accel"}
    assert "HardSwish" not in by_op and "Mul" not in by_op


@pytest.mark.parametrize("config", ["default", "small"])
def test_with_free_scales_hardswish_stays_float(config):
    """requant="mul" gives HardSwish's input a free (non-power-of-two) scale: the integer
    formula takes integer exponents, so HardSwish stays on the CPU instead of being computed
    at a truncated exponent (that cost PP-OCR-cls 31 -> 388 % before it was caught)."""
    g = _quantized(mul_config(config), mul_block(), float_squeeze_excite=False, requant="mul")
    ops = [n.op for n in g.nodes]
    assert "vtac.hardswish" not in ops and "HardSwish" in ops


def test_a_float_squeeze_excite_gate_keeps_its_mul_on_the_cpu():
    g = _quantized(mul_config("default"), mul_block())  # float SE convs: the default rule
    (se,) = [n for n in g.nodes if n.name == "se_mul"]
    assert se.op == "Mul" and se.target == "cpu" and "float squeeze-excite gate" in se.reason


def test_float_hardswish_keeps_a_reason_with_mul(rng):
    b = GraphBuilder("hs", opset=14)
    x = b.input("x", (1, 16, 4, 4))
    b.output(b.op("HardSwish", [x], name="act"))
    g = b.build()
    q = _quantized(mul_config("default"), g)
    node = q.node("act")
    assert node.op == "HardSwish" and node.target == "cpu" and "no int8 form" in node.reason


def test_fold_affine_into_conv_keeps_the_float_values(rng):
    from compiler.graph.passes.fold_affine_into_conv import fold_affine_into_conv
    from tests.model.mul_blocks import affine_block

    g = affine_block()
    f = fold_affine_into_conv(g)
    assert f.op_counts()["Mul"] == g.op_counts()["Mul"] - 2  # the two affines after convs
    assert f.op_counts()["Add"] == g.op_counts()["Add"] - 2
    feed = {"x": rng.standard_normal((1, 8, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(run_graph(f, feed)[f.outputs[0]], run_graph(g, feed)[g.outputs[0]],
                               rtol=1e-4, atol=1e-4)  # fmt: skip
