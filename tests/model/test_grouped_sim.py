"""ShuffleNet units compiled as whole models and co-run on hw_sim: grouped convs with partial
blocks per group (block-diagonal GEMMs) and folded channel shuffles, bit-exact with the graph's
int8 reference at both configs, every accelerator launch portable."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.graph.executor import run_graph
from tests.graph.shufflenet_unit import shufflenet_unit_graph
from tests.model.helpers import samples
from tests.model.test_depthwise_sim import _corun_checked

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("seed,groups", [(0, 4), (1, 3)])
def test_shufflenet_units_are_bit_exact(cfg, seed, groups):
    g = shufflenet_unit_graph(seed=seed, cin=12, mid=24, groups=groups)
    model = compile_model(g, cfg, samples(g, 2))
    assert not model.meta["fallbacks"] and not model.meta["quant"]["kept_float"]
    convs = {"g1", "dw1", "g2", "g3", "dw2", "g4"}
    assert convs <= {la.name for la in model.accel_launches()}
    cpu_ops = {n.op for la in model.cpu_launches() for n in la.nodes}
    assert not {"Transpose", "Reshape", "Conv"} & cpu_ops
    g1 = next(la for la in model.accel_launches() if la.name == "g1")
    assert g1.macs == 24 * (12 // groups) * 8 * 8  # the grouped conv's own MACs
    assert g1.padded_macs > g1.macs  # the zeros of the dense form are padding
    feed = samples(g, 1, seed=seed + 5)[0]
    res = _corun_checked(model, feed)
    out, want = res.outputs[g.outputs[0]], run_graph(g, feed)[g.outputs[0]]
    assert np.count_nonzero(out) > out.size // 4
    assert np.abs(out - want).max() <= 0.1 * np.abs(want).max()


def test_concat_of_a_cpu_pool_and_a_conv_is_a_view(cfg):
    """Whole blocks on both sides of the stride-2 unit's concat: the conv branch stays packed,
    the CPU's average pool (count_include_pad=0) is quantized and packed into its slice."""
    g = shufflenet_unit_graph(seed=3, cin=16, mid=32)
    model = compile_model(g, cfg, samples(g, 2))
    assert not model.meta["fallbacks"]
    views = [n for la in model.cpu_launches() for n in la.nodes if n.op == "vtac.concat"]
    assert [n.name for n in views] == ["concat"]
    cpu_ops = {n.op for la in model.cpu_launches() for n in la.nodes}
    assert "Concat" not in cpu_ops
    _corun_checked(model, samples(g, 1, seed=11)[0])


def test_tiny_conv_beside_a_large_residual_is_bit_exact(cfg):
    """The residual unit's last conv scaled by 2^-14: its accumulator exponent lies more than
    the ALU's 15-bit left shift below the residual's, so it is rounded up before the add."""
    g = shufflenet_unit_graph(seed=2, scale=2.0**-14)
    model = compile_model(g, cfg, samples(g, 2))
    assert not model.meta["fallbacks"]
    g4 = next(la for la in model.accel_launches() if la.name == "g4")
    assert "vtac.add" in g4.ops
    _corun_checked(model, samples(g, 1, seed=9)[0])
