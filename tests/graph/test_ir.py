"""Graph IR records, the printer and the verifier."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.ir import Graph, GraphError, Node, TensorType
from compiler.graph.printer import print_graph
from compiler.graph.verifier import verify


def small_graph() -> Graph:
    b = GraphBuilder("small")
    x = b.input("x", (1, 2, 4, 4))
    w = b.const("w", np.ones((3, 2, 3, 3), np.float32))
    y = b.op("Conv", [x, w], pads=(1, 1, 1, 1), name="conv", out="y")
    b.output(b.op("Relu", [y], name="relu", out="z"))
    return b.build()


def test_printer_text_is_exact():
    assert print_graph(small_graph()) == (
        "graph small (opset 17) {\n"
        "  input %x: f32[1,2,4,4]\n"
        "  const %w: f32[3,2,3,3]\n"
        "  %y: f32[1,3,4,4] = Conv(%x, %w) {pads=[1,1,1,1]}  # conv\n"
        "  %z: f32[1,3,4,4] = Relu(%y)  # relu\n"
        "  return %z\n"
        "}\n"
    )


def test_printer_is_deterministic_and_repr_uses_it():
    g = small_graph()
    assert repr(g) == print_graph(g) == print_graph(small_graph())


def test_printer_shows_group_and_target():
    from dataclasses import replace

    g = small_graph()
    g = g.with_nodes([replace(n, group=0, target="cpu") for n in g.nodes])
    assert "# relu group=0 target=cpu" in print_graph(g)


def test_records_are_immutable():
    g = small_graph()
    with pytest.raises(AttributeError):
        g.nodes[0].op = "Relu"  # type: ignore[misc]
    with pytest.raises(TypeError):
        g.nodes[0].attrs["pads"] = (0,)  # type: ignore[index]
    with pytest.raises(ValueError):
        g.constants["w"][0, 0, 0, 0] = 2.0


def test_tensor_type_rejects_unknown_dtype():
    with pytest.raises(GraphError, match="unsupported dtype"):
        TensorType((1,), "complex64")


def _broken(graph: Graph, **changes) -> Graph:
    from dataclasses import replace

    return replace(graph, **changes)


def test_verifier_accepts_good_graph():
    verify(small_graph())


def test_verifier_reports_use_before_definition():
    g = small_graph()
    bad = _broken(g, nodes=tuple(reversed(g.nodes)))
    with pytest.raises(GraphError, match="'y' is not defined before use"):
        verify(bad)


def test_verifier_reports_wrong_recorded_type():
    g = small_graph()
    types = dict(g.types)
    types["z"] = TensorType((1, 3, 4, 5), "float32")
    with pytest.raises(GraphError, match="output 'z' recorded as f32\\[1,3,4,5\\], infers"):
        verify(_broken(g, types=types))


def test_verifier_reports_duplicate_definitions_and_unknown_ops():
    g = small_graph()
    extra = Node("again", "Frobnicate", ("x",), ("y",))
    with pytest.raises(GraphError) as e:
        verify(_broken(g, nodes=g.nodes + (extra,)), check_types=False)
    assert "output 'y' is defined more than once" in str(e.value)
    assert "unknown op" in str(e.value)


def test_verifier_reports_split_fusion_group():
    from dataclasses import replace

    g = small_graph()
    b = GraphBuilder("three")
    x = b.input("x", (2, 2))
    a = b.op("Relu", [x], name="a")
    c = b.op("Neg", [a], name="b")
    b.output(b.op("Abs", [c], name="c"))
    g = b.build()
    nodes = [replace(n, group=grp) for n, grp in zip(g.nodes, (0, 1, 0), strict=True)]
    with pytest.raises(GraphError, match="fusion group 0 is not contiguous"):
        verify(g.with_nodes(nodes))


def test_verifier_reports_missing_output():
    g = small_graph()
    with pytest.raises(GraphError, match="graph output 'nope' is not defined"):
        verify(_broken(g, outputs=("nope",)), check_types=False)
