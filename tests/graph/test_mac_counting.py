"""MAC counting (`node_macs`, `unpadded_macs`, `partition_report`) and accelerator <-> CPU
boundary crossings (`compiler/graph/boundary.py`)."""

from __future__ import annotations

import numpy as np

from compiler.graph.boundary import Crossings, count_crossings, graph_crossings
from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.partition import node_macs, partition_report
from compiler.graph.pipeline import compile_for_accel
from tests.model.helpers import samples


def test_conv_transpose_macs_from_input_and_weight():
    rng = np.random.default_rng(0)
    b = GraphBuilder("ct", opset=13)
    x = b.input("x", (2, 8, 5, 7))
    w = b.const("w", rng.standard_normal((8, 3, 4, 4)).astype(np.float32))  # C_out/g = 3
    y = b.op("ConvTranspose", [x, w], name="up", strides=(2, 2), group=2)
    b.output(y)
    g = b.build()
    (node,) = g.nodes
    assert g.types[y].shape == (2, 6, 12, 16)
    # every input pixel of every channel scatters into C_out/g x kH x kW outputs
    assert node_macs(node, g) == 2 * 8 * 5 * 7 * 3 * 4 * 4
    # counted from the output side: each output pixel gathers (C_in/g) x the kernel taps that
    # land on an input pixel (stride 2: (o - k) even and inside the input)
    taps = lambda o, size: sum(1 for k in range(4) if (o - k) % 2 == 0 and 0 <= (o - k) // 2 < size)  # noqa: E501, E731
    per_plane = sum(taps(oy, 5) * taps(ox, 7) for oy in range(12) for ox in range(16))
    assert node_macs(node, g) == 2 * 6 * (8 // 2) * per_plane


def test_conv_and_dense_macs():
    rng = np.random.default_rng(1)
    b = GraphBuilder("cd", opset=13)
    x = b.input("x", (1, 6, 9, 9))
    w = b.const("w", rng.standard_normal((12, 3, 3, 3)).astype(np.float32))
    y = b.op("Conv", [x, w], name="conv", group=2, strides=(2, 2), pads=(1, 1, 1, 1))
    f = b.op("Flatten", [y], name="flat")
    d = b.op("Gemm", [f, b.const("fc_w", rng.standard_normal((10, 12 * 25)).astype(np.float32))],
             name="fc", transB=1)  # fmt: skip
    b.output(d)
    g = b.build()
    macs = {n.name: node_macs(n, g) for n in g.nodes}
    assert macs == {"conv": 12 * 5 * 5 * 3 * 9, "flat": 0, "fc": 10 * 300}


def _net(cin: int, cout: int):
    rng = np.random.default_rng(2)
    b = GraphBuilder("net", opset=13)
    x = b.input("input", (1, cin, 8, 8))
    w1 = b.const("w1", (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32))
    w2 = b.const("w2", (rng.standard_normal((cout, cout, 1, 1)) * 0.3).astype(np.float32))
    y = b.op("Relu", [b.op("Conv", [x, w1], name="c1", pads=(1, 1, 1, 1))])
    y = b.op("Sigmoid", [y], name="sig")  # a CPU op between the two convs: two boundaries
    b.output(b.op("Conv", [y, w2], name="c2"))
    return b.build()


def test_report_counts_unpadded_macs_and_padding_apart(cfg):
    g = _net(3, 20)  # 3 and 20 channels: padded to whole blocks on the accelerator
    res = compile_for_accel(g, cfg, samples(g, 2))
    unpadded = 20 * 64 * 3 * 9 + 20 * 64 * 20
    blk = lambda c: -(-c // cfg.block) * cfg.block  # noqa: E731
    # the 3-channel 3x3 conv runs as a 1x1 conv over its 27 im2col channels (stem_im2col)
    padded = blk(20) * 64 * blk(3 * 9) + blk(20) * 64 * blk(20)
    rep = partition_report(res.graph, res.float_graph)
    assert rep.accel_macs == unpadded and rep.cpu_macs == 0
    assert rep.padding_macs == padded - unpadded > 0
    # without the float graph, the packed shapes are all it can count
    assert partition_report(res.graph).accel_macs == padded
    assert "padding overhead" in rep.render() and "unpadded shapes" in rep.render()
    doc = rep.to_json()
    assert doc["accel_macs"] == unpadded and doc["padding_macs"] == padded - unpadded
    assert doc["accel_share"] == 1.0


def test_crossings_of_a_partitioned_graph(cfg):
    g = _net(cfg.block, cfg.block)
    res = compile_for_accel(g, cfg, samples(g, 2))
    c = graph_crossings(res.graph)
    # c1's int8 output leaves for the Sigmoid; the quantized Sigmoid output enters for c2;
    # c2's output leaves for the host (unpack on the CPU); the input enters packed.
    assert (c.to_cpu, c.to_accel) == (2, 2)
    block_bytes = 64 * cfg.block  # one [1, 1, 8, 8, 1, block] int8 tensor
    assert c.to_cpu_bytes == 2 * block_bytes and c.to_accel_bytes == 2 * block_bytes
    assert partition_report(res.graph, res.float_graph).crossings == c
    assert "boundary crossings: 4 (2 accelerator -> CPU, 2 CPU -> accelerator)" in c.render()


def test_count_crossings_rules():
    sizes = {"x": 10, "a": 20, "b": 30, "c": 40, "k": 5}
    steps = [
        ("cpu", ["x"], ["a"]),  # graph input: never crosses
        ("accel", ["a", "k"], ["b"]),  # a crosses to the accelerator; k is a constant
        ("cpu", ["b"], ["c"]),  # b crosses to the CPU ...
        ("cpu", ["b", "c"], []),  # ... once, however many CPU readers
        ("accel", ["a"], []),  # a already crossed
    ]
    assert count_crossings(steps, sizes) == Crossings(1, 1, 20, 30)
    assert Crossings(1, 1, 20, 30).to_json()["boundary_crossings"] == 2
