"""Pass infrastructure: debug levels print pass names / IR and verify after each pass."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.builder import GraphBuilder
from compiler.graph.ir import GraphError, TensorType
from compiler.graph.passes import GraphPass, run_passes
from compiler.graph.pipeline import OPTIMIZE


def _graph():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3))
    y = b.op("Identity", [x])
    b.output(b.op("Relu", [b.op("Add", [y, b.const("c", np.ones(3, np.float32))])]))
    return b.build()


def test_debug_level_1_prints_each_pass(monkeypatch, capsys):
    monkeypatch.setenv("VTAC_DEBUG", "1")
    run_passes(_graph(), OPTIMIZE)
    err = capsys.readouterr().err
    for p in OPTIMIZE:
        assert f"[vtac] pass {p.name}: " in err
    assert "graph g (opset" not in err


def test_debug_level_2_prints_the_ir(monkeypatch, capsys):
    monkeypatch.setenv("VTAC_DEBUG", "2")
    run_passes(_graph(), OPTIMIZE[:1])
    assert "graph g (opset 17) {" in capsys.readouterr().err


def test_verify_each_catches_a_broken_pass():
    from dataclasses import replace

    def corrupt(g):
        types = dict(g.types)
        types[g.outputs[0]] = TensorType((9,), "float32")
        return replace(g, types=types)

    with pytest.raises(GraphError, match="recorded as f32\\[9\\]"):
        run_passes(_graph(), [GraphPass("corrupt", corrupt)], verify_each=True)
