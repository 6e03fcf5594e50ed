"""block_views: channel concat/split of packed values become `vtac.concat` / `vtac.split`."""

from __future__ import annotations

import numpy as np

from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.verifier import verify
from tests.graph.helpers import ops, random_feeds
from tests.model.int8_blocks import yolo_blocks


def _accel_graph(g, cfg, rng):
    return compile_for_accel(g, cfg, [random_feeds(g, rng) for _ in range(2)])


def test_c2f_and_sppf_concats_and_split_become_views(cfg, rng):
    res = _accel_graph(yolo_blocks(), cfg, rng)
    g = res.graph
    verify(g)
    names = ops(g)
    assert "Concat" not in names and "Split" not in names
    assert names.count("vtac.concat") == 2 and names.count("vtac.split") == 1
    for n in g.nodes:
        if n.op in ("vtac.concat", "vtac.split"):
            assert n.attr("packed") == 1 and n.target == "cpu"
            assert all(len(g.types[v].shape) == 6 for v in (*n.inputs, *n.outputs))
    # no unpack -> pack round trip is left around them
    producers = {o: n for n in g.nodes for o in n.outputs}
    for n in g.nodes:
        if n.op == "vtac.pack":
            assert producers.get(n.inputs[0]) is None or producers[n.inputs[0]].op != "vtac.unpack"
    # same values as the quantized graph before the rewrite (the reference semantics)
    feeds = random_feeds(res.float_graph, rng)
    out = run_graph(g, feeds)[g.outputs[0]]
    want = run_graph(res.float_graph, feeds)[g.outputs[0]]
    assert np.linalg.norm(out - want) / np.linalg.norm(want) < 0.08


def test_concat_of_partial_channel_blocks_stays_a_cpu_concat(cfg, rng):
    """12 + 12 channels are not whole blocks at either config: unpack, Concat, pack remain."""
    b = GraphBuilder("t", opset=13)
    x = b.input("x", (1, 3, 8, 8))

    def conv(v, cin, cout):
        w = b.const("w", (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32))
        return b.op("Relu", [b.op("Conv", [v, w], pads=(1,) * 4)])

    y = b.op("Concat", [conv(x, 3, 12), conv(x, 3, 12)], axis=1)
    b.output(conv(y, 24, 16))
    g = _accel_graph(b.build(), cfg, rng).graph
    assert "vtac.concat" not in ops(g) and "Concat" in ops(g)
    cat = next(n for n in g.nodes if n.op == "Concat")
    assert g.types[cat.outputs[0]].dtype == "int8"
