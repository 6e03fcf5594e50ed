"""fold_pad_into_conv: zero Pad + Conv -> Conv with the padding (before/expected pairs)."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.fold_pad import fold_pad_into_conv
from tests.graph.helpers import assert_equivalent, ops


def _pad_conv(rng, pads, conv_pads=(0, 0, 0, 0), value=None, mode="constant"):
    b = GraphBuilder("g", opset=13)
    x = b.input("x", (1, 4, 8, 8))
    ins = [x, b.const("p", np.array(pads))]
    if value is not None:
        ins.append(b.const("v", np.float32(value)))
    y = b.op("Pad", ins, mode=mode, name="pad")
    w = b.const("w", rng.standard_normal((8, 4, 3, 3)).astype(np.float32))
    b.output(b.op("Conv", [y, w], pads=conv_pads, name="conv"))
    return b.build()


def test_symmetric_zero_pad_folds_into_the_conv(rng):
    before = _pad_conv(rng, [0, 0, 1, 1, 0, 0, 1, 1])
    after = fold_pad_into_conv(before)
    assert ops(after) == ["Conv"]
    assert tuple(after.nodes[0].attr("pads")) == (1, 1, 1, 1)
    assert_equivalent(before, after, rng)
    before = _pad_conv(rng, [0, 0, 1, 1, 0, 0, 1, 1], conv_pads=(1, 1, 1, 1), value=0.0)
    after = fold_pad_into_conv(before)
    assert tuple(after.nodes[0].attr("pads")) == (2, 2, 2, 2)
    assert_equivalent(before, after, rng)


def test_asymmetric_nonzero_or_channel_pads_stay(rng):
    for g in (
        _pad_conv(rng, [0, 0, 0, 0, 0, 0, 1, 1]),  # TF-style SAME, stride 2: asymmetric
        _pad_conv(rng, [0, 0, 1, 1, 0, 0, 1, 1], value=1.0),
        _pad_conv(rng, [0, 0, 1, 1, 0, 0, 1, 1], mode="reflect"),
    ):
        assert ops(fold_pad_into_conv(g)) == ["Pad", "Conv"]
