"""ONNX backend node conformance: every case whose ops vtac implements must pass."""

from __future__ import annotations

import pytest

from compiler.frontend.onnx_conformance import collect_cases, per_op_table, run_case

# Ops the real models and the accelerator path rely on: each must have passing cases.
CORE_OPS = [
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "Add",
    "Sub", "Mul", "Div", "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Flatten",
    "Squeeze", "Unsqueeze", "Transpose", "Concat", "Slice", "Pad", "Gather", "Softmax",
    "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Resize", "Shape", "Constant", "ReduceMean",
    "LRN", "Split",
]  # fmt: skip


@pytest.fixture(scope="module")
def results():
    return [run_case(c) for c in collect_cases()]


def test_no_conformance_case_of_an_implemented_op_fails(results):
    failed = [f"{r.name} ({r.op}): {r.detail}" for r in results if r.status == "failed"]
    assert failed == [], "\n".join(failed)


def test_core_ops_have_passing_cases(results):
    table = per_op_table(results)
    missing = [op for op in CORE_OPS if table.get(op, {}).get("passed", 0) == 0]
    assert missing == []
    assert sum(r.status == "passed" for r in results) >= 1000
