"""One grid per channel concat: an operand that only the concat reads takes the calibrated range
of the concat's output.

Why: the int8 concat needs one exponent for all operands (`int8_ops._concat`). Left to their
own ranges, the operands' producers round to their own grids and the concat then rounds the
finer ones again by an aligning right shift to the coarsest one: two roundings, and the
coarsest operand's grid instead of the one calibration chose for the joined tensor. With the
operand's range tied to the output's, its producer requantizes straight to that grid: one
rounding, and no aligning step (light Inception-v1: 1.72 % -> see docs/quantization.md).
An operand read elsewhere too keeps its own range (its other readers want it).
"""

from __future__ import annotations

from collections.abc import Mapping

from compiler.graph.ir import Graph


def shared_concat_ranges(graph: Graph, ranges: Mapping[str, float]) -> dict[str, float]:
    """`ranges` with each concat-only operand's range replaced by its concat's output range."""
    out = dict(ranges)
    consumers = graph.consumers()
    # Outer concats first: an inner concat's output takes the outer range before its own
    # operands copy it.
    for node in reversed(graph.nodes):
        if node.op != "Concat" or not node.outputs or node.outputs[0] not in out:
            continue
        shared = out[node.outputs[0]]
        for v in node.inputs:
            if (
                v in out
                and v not in graph.constants
                and v not in graph.outputs
                and len(consumers.get(v, ())) == 1
            ):
                out[v] = shared
    return out
