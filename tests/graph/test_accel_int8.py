"""partition of the int8 data-movement ops (`compiler/graph/accel_int8.py`)."""

from __future__ import annotations

from compiler.graph.builder import GraphBuilder
from compiler.graph.passes.partition import partition


def _graph(op, shapes, dtype="int8", **attrs):
    b = GraphBuilder("g", opset=13)
    xs = [b.input(f"x{i}", s, dtype) for i, s in enumerate(shapes)]
    b.output(b.op(op, xs, name="n", **attrs))
    return b.build()


def _target(g, cfg):
    n = next(n for n in partition(g, cfg).nodes if n.name == "n")
    return n.target, n.reason


def test_int8_maxpool_goes_to_the_accelerator(cfg):
    g = _graph("vtac.maxpool", [(1, 16, 8, 8)], kernel_shape=(5, 5), strides=(1, 1),
               pads=(2, 2, 2, 2))  # fmt: skip
    assert _target(g, cfg) == ("accel", "")


def test_float_maxpool_says_why_it_stays_on_the_cpu(cfg):
    g = _graph("MaxPool", [(1, 16, 8, 8)], "float32", kernel_shape=(2, 2))
    target, reason = _target(g, cfg)
    assert target == "cpu" and "no int8 form" in reason


def test_standalone_add_of_two_int8_tensors_goes_to_the_accelerator(cfg):
    g = _graph("vtac.add", [(1, 16, 4, 4), (1, 16, 4, 4)], shift_a=1, shift_b=0)
    assert _target(g, cfg) == ("accel", "")


def test_standalone_add_with_broadcast_or_int32_stays_on_the_cpu(cfg):
    g = _graph("vtac.add", [(1, 16, 4, 4), (1, 16, 1, 1)])
    target, reason = _target(g, cfg)
    assert target == "cpu" and "one NCHW or NC shape" in reason
    b = GraphBuilder("g", opset=13)
    x = b.input("x", (1, 16, 4, 4), "int32")
    y = b.input("y", (1, 16, 4, 4), "int8")
    b.output(b.op("vtac.add", [x, y], name="n"))
    target, reason = _target(b.build(), cfg)
    assert target == "cpu" and "two int8 operands" in reason
