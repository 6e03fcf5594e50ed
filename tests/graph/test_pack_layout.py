"""pack_layout: blocked layouts, channel padding, pack/unpack at region boundaries."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.passes.pack_layout import pack_layout
from compiler.graph.passes.partition import partition
from compiler.graph.quant.calibrate import calibrate
from compiler.graph.quant.quantize import quantize_int8
from compiler.graph.ref.vtac_ops import (
    pack_array,
    pack_weight_array,
    unpack_array,
    unpack_weight_array,
)
from compiler.graph.verifier import verify
from tests.graph.helpers import ops


def test_pack_unpack_round_trip_with_padding(cfg, rng):
    for shape in [(1, 3, 5, 7), (2 * cfg.batch, 2 * cfg.block + 1, 2, 2), (3, cfg.block + 2)]:
        x = rng.integers(-128, 128, shape).astype(np.int8)
        p = pack_array(x, cfg.batch, cfg.block)
        assert p.shape[-2:] == (cfg.batch, cfg.block)
        assert p.shape[1] == -(-shape[1] // cfg.block)
        np.testing.assert_array_equal(unpack_array(p, shape[0], shape[1]), x)
        # The padding is zero.
        assert int(np.abs(p.astype(np.int64)).sum()) == int(np.abs(x.astype(np.int64)).sum())
    w = rng.integers(-127, 128, (cfg.block + 1, 3, 3, 3)).astype(np.int8)
    wp = pack_weight_array(w, cfg.block)
    assert wp.shape == (2, 1, 3, 3, cfg.block, cfg.block)
    np.testing.assert_array_equal(unpack_weight_array(wp)[: cfg.block + 1, :3], w)


def _two_convs_then_pool(rng, cin=3):
    b = GraphBuilder("net")
    x = b.input("x", (1, cin, 8, 8))
    c1 = b.const("w1", (rng.standard_normal((12, cin, 3, 3)) * 0.3).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, c1], pads=(1, 1, 1, 1), name="conv1")], name="relu1")
    c2 = b.const("w2", (rng.standard_normal((12, 12, 3, 3)) * 0.2).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [y, c2], pads=(1, 1, 1, 1), name="conv2")], name="relu2")
    b.output(b.op("MaxPool", [y], kernel_shape=(2, 2), strides=(2, 2), name="pool", out="y"))
    return b.build()


def test_region_is_packed_once_and_unpacked_at_the_boundary(cfg, rng):
    g = _two_convs_then_pool(rng)
    samples = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(3)]
    q, _ = quantize_int8(g, calibrate(g, samples))
    parted = partition(q, cfg)
    packed = pack_layout(parted, cfg)
    verify(packed)
    # the max pool stays int8 (int8_ops.py) and in the region, packed (it pools H, W only)
    assert ops(packed) == [
        "vtac.quantize", "vtac.pack", "vtac.conv2d", "vtac.requantize", "vtac.conv2d",
        "vtac.requantize", "vtac.maxpool", "vtac.unpack", "vtac.dequantize",
    ]  # fmt: skip
    assert packed.nodes[6].attr("packed") == 1 and packed.types["y_q_packed"].rank == 6
    conv1 = packed.nodes[2]
    assert conv1.attr("packed") == 1
    # The 3-channel input is padded to one full block; 12 output channels to whole blocks.
    assert packed.types[conv1.inputs[0]].shape == (1, 1, 8, 8, cfg.batch, cfg.block)
    assert packed.types[conv1.inputs[1]].shape[:2] == (-(-12 // cfg.block), 1)
    # Bit-exact: packing changes the layout, never a value.
    feeds = samples[0]
    want = run_graph(q, feeds)["y"]
    np.testing.assert_array_equal(run_graph(packed, feeds)["y"], want)
