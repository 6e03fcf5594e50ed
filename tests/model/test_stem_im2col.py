"""stem_im2col: a few-channel int8 conv as a CPU gather + a 1×1 accelerator conv.

The gather's channel order matches the weight's, so the rewrite is exact in integers (checked
on the reference kernels), the pass fires only where it pays (checked on its conditions), and a
compiled stem co-runs bit-exactly on hw_sim at both configs with the GEMM work it promises."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_node
from compiler.graph.ir import Node
from compiler.graph.passes.stem_im2col import im2col_gain
from runtime.executor import Executor, compare_integer_values, launch_mismatches, reference_values
from tests.model.helpers import samples


def _conv(x, w, strides, pads):
    node = Node("c", "vtac.conv2d", ("x", "w"), ("y",),
                {"strides": strides, "pads": pads, "dilations": (1, 1), "group": 1})  # fmt: skip
    return run_node(node, [x, w], 13)[0]


@pytest.mark.parametrize(
    "c,k,s,pads", [(3, 7, 2, (3, 3, 3, 3)), (3, 3, 1, (1, 1, 1, 1)), (4, 5, 3, (0, 2, 1, 0))]
)
def test_conv_equals_1x1_conv_over_im2col(c, k, s, pads):
    rng = np.random.default_rng(c * 100 + k)
    x = rng.integers(-128, 128, (1, c, 17, 15), dtype=np.int8)
    w = rng.integers(-128, 128, (8, c, k, k), dtype=np.int8)
    gather = Node("g", "vtac.im2col", ("x",), ("xc",),
                  {"kernel_shape": (k, k), "strides": (s, s), "pads": pads})  # fmt: skip
    (cols,) = run_node(gather, [x], 13)
    assert cols.dtype == np.int8 and cols.shape[1] == c * k * k
    direct = _conv(x, w, (s, s), pads)
    folded = _conv(cols, w.reshape(8, c * k * k, 1, 1), (1, 1), (0, 0, 0, 0))
    np.testing.assert_array_equal(folded, direct)


def test_gain_rule():
    assert im2col_gain(3, 7, 7, 16) == 49 / 10  # ResNet's stem: 49 -> 10 micro-ops a row
    assert im2col_gain(3, 3, 3, 16) == 9 / 2
    assert im2col_gain(16, 3, 3, 16) == 1.0  # full blocks already: never rewritten
    assert im2col_gain(12, 3, 3, 16) < 2.0


def _stem_model(c, k, s, image=20, seed=0):
    rng = np.random.default_rng(seed)
    b = GraphBuilder("stem", opset=13)
    x = b.input("x", (1, c, image, image))
    w = b.const("w", (rng.standard_normal((32, c, k, k)) * 0.2).astype(np.float32))
    bias = b.const("b", (rng.standard_normal(32) * 0.1).astype(np.float32))
    y = b.op("Conv", [x, w, bias], name="stem", strides=(s, s), pads=(k // 2,) * 4,
             kernel_shape=(k, k))  # fmt: skip
    b.output(b.op("Relu", [y]))
    return b.build()


@pytest.mark.sim
@pytest.mark.parametrize("c,k,s,rewritten", [(3, 7, 2, True), (3, 3, 1, True), (16, 3, 1, False)])
def test_stem_co_runs_bit_exact_with_im2col_gemm_work(cfg, c, k, s, rewritten):
    g = _stem_model(c, k, s)
    model = compile_model(g, cfg, samples(g, 2))
    ops = {op for la in model.cpu_launches() for op in la.ops}
    assert ("vtac.im2col" in ops) == rewritten
    (la,) = model.accel_launches()
    oh = (20 + 2 * (k // 2) - k) // s + 1
    assert la.macs == 32 * c * k * k * oh * oh  # the model's MACs, unchanged by the rewrite
    blk = cfg.block
    reduce_blocks = -(-c * k * k // blk) if rewritten else -(-c // blk) * k * k
    assert la.padded_macs == -(-32 // blk) * blk * reduce_blocks * blk * oh * oh
    feed = samples(g, 1, seed=3)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    assert launch_mismatches(model, res.values) == []
