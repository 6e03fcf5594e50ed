"""The text form round-trips: print -> parse -> print gives the same text and graph."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend.onnx_import import import_onnx
from compiler.graph.builder import GraphBuilder
from compiler.graph.parser import ParseError, parse_graph
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.printer import print_graph
from compiler.graph.verifier import verify
from tests.graph.models import resnet18


def _round_trip(g):
    text = print_graph(g)
    back = parse_graph(text, g.constants)
    verify(back)
    assert print_graph(back) == text
    assert back.nodes == tuple(n.__class__(n.name, n.op, n.inputs, n.outputs, n.attrs, n.group,
                                           n.target) for n in g.nodes)  # fmt: skip
    return back


def test_round_trip_of_attributes_of_every_kind():
    b = GraphBuilder("kinds")
    x = b.input("x", (1, 4, 6, 6))
    y = b.op("Resize", [x, "", b.const("scales", np.float32([1, 1, 2, 2]))], mode="nearest",
             coordinate_transformation_mode="asymmetric", name="resize")  # fmt: skip
    y = b.op("LeakyRelu", [y], alpha=0.125)
    y = b.op("ConstantOfShape", [b.const("shape", np.array([2, 3], np.int64))],
             value=np.array([1.5], np.float32))  # fmt: skip
    b.output(y)
    _round_trip(b.build())


def test_round_trip_of_a_compiled_resnet18(cfg, rng):
    g = import_onnx(resnet18(image=32, width=8, classes=10))
    feeds = [{"input": rng.standard_normal((1, 3, 32, 32)).astype(np.float32)}]
    final = compile_for_accel(g, cfg, feeds).graph
    _round_trip(final)


def test_parse_errors_name_the_line():
    with pytest.raises(ParseError, match="expected 'graph NAME"):
        parse_graph("nonsense")
    text = "graph g (opset 17) {\n  input %x: f32[2]\n  %y: f32[2] = Relu(%x\n  return %y\n}\n"
    with pytest.raises(ParseError, match="line 3: cannot parse node line"):
        parse_graph(text)
    text = "graph g (opset 17) {\n  const %w: f32[2]\n  return %w\n}\n"
    with pytest.raises(ParseError, match="line 2: no value given for constant 'w'"):
        parse_graph(text)


def test_omitted_outputs_and_inputs_round_trip():
    b = GraphBuilder("opt")
    x = b.input("x", (1, 2, 6, 6))
    y = b.op("MaxPool", [x], kernel_shape=(2, 2), name="pool")
    g = b.build()
    from compiler.graph.ir import Node

    pool = g.nodes[0]
    g = g.with_nodes([Node(pool.name, pool.op, pool.inputs, (y, ""), pool.attrs)], outputs=[y])
    assert "= MaxPool(%x)" in print_graph(g) and ", _ = MaxPool" in print_graph(g)
    _round_trip(g)
