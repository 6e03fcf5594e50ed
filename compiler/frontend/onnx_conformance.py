"""Run ONNX's backend node conformance tests (`onnx.backend.test`) through vtac's frontend and
reference executor.

The cases are generated in memory by `onnx.backend.test.case.node.collect_testcases` (the wheel
does not ship the node data directories). A case is *run* when every op of its graph is
supported; otherwise it is *skipped* with the reason (unsupported op, op variant or dtype).
A run case *passes* when every output has the expected dtype and shape and matches within the
case's own tolerances (rtol, atol), as ONNX's runner checks. Each case is attributed to its
main op: the ONNX op whose name is the longest prefix of the test name (`test_conv_with_...`
-> Conv), so `_expanded` function-body variants count under the op they expand.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from compiler.frontend.onnx_import import (
    FrontendError,
    UnsupportedDtypeError,
    UnsupportedOpsError,
    UnsupportedValueError,
    import_onnx,
    onnx_node_test_cases,
    onnx_op_names,
    onnx_value_to_array,
)
from compiler.graph.executor import run_graph
from compiler.graph.ref import KERNELS


@dataclass(frozen=True)
class CaseResult:
    name: str
    op: str
    status: str  # "passed" | "failed" | "skipped"
    detail: str = ""


# Case name -> the op of its one-node graph, filled by `collect_cases`: an `_expanded` case whose
# name abbreviates its op (test_sce_..., test_nllloss_..., test_mvn_...) is attributed through
# its one-node twin, not through the first node of the function body it expands to.
_ONE_NODE_OPS: dict[str, str] = {}


def collect_cases() -> list:
    """All node test cases of the installed onnx package (takes ~10 s: they are generated)."""
    cases = onnx_node_test_cases()
    _ONE_NODE_OPS.update(
        {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    )
    return cases


_OPS_BY_LOWER: dict[str, str] | None = None


def main_op(case) -> str:
    """The ONNX op a case tests: the longest op name that prefixes the test name, else the op
    of the case's one-node twin (for `_expanded` cases), else its graph's first op."""
    global _OPS_BY_LOWER
    if _OPS_BY_LOWER is None:
        _OPS_BY_LOWER = {name.lower(): name for name in onnx_op_names()}
    flat = case.name.removeprefix("test_").replace("_", "").lower()
    best = ""
    for low, name in _OPS_BY_LOWER.items():
        if flat.startswith(low) and len(low) > len(best.lower()):
            best = name
    if best:
        return best
    twin = case.name.split("_expanded")[0]
    if twin != case.name and twin in _ONE_NODE_OPS:
        return _ONE_NODE_OPS[twin]
    return case.model.graph.node[0].op_type if case.model.graph.node else "?"


def run_case(case) -> CaseResult:
    op = main_op(case)
    ops = {n.op_type for n in case.model.graph.node}
    foreign = sorted(o for o in ops if o not in KERNELS)
    if foreign:
        return CaseResult(case.name, op, "skipped", f"unsupported op {', '.join(foreign)}")
    data_sets = []
    for inputs, outputs in case.data_sets:
        try:
            arrays_in = [onnx_value_to_array(a) for a in inputs]
            arrays_out = [onnx_value_to_array(a) for a in outputs]
        except UnsupportedValueError as e:
            return CaseResult(case.name, op, "skipped", str(e))
        data_sets.append((arrays_in, arrays_out))
    for k, (inputs, outputs) in enumerate(data_sets):
        result = _run_data_set(case, op, k, inputs, outputs)
        if result is not None:
            return result
    return CaseResult(case.name, op, "passed")


def _run_data_set(case, op: str, k: int, inputs, outputs) -> CaseResult | None:
    """None when the data set passes, else the failed/skipped result."""
    names = [
        vi.name
        for vi in case.model.graph.input
        if vi.name not in {i.name for i in case.model.graph.initializer}
    ]
    if len(names) != len(inputs):
        why = f"data set {k}: {len(inputs)} inputs for {len(names)} graph inputs"
        return CaseResult(case.name, op, "failed", why)
    feeds = dict(zip(names, inputs, strict=True))
    # Integer inputs (shapes, axes, indices) decide output shapes: freeze them to constants so
    # that the static-shape graph IR can be built.
    # Resize's roi/scales/sizes and Range's bounds decide output shapes too.
    resize_params = {i for n in case.model.graph.node if n.op_type == "Resize" for i in n.input[1:]}
    resize_params |= {i for n in case.model.graph.node if n.op_type == "Range" for i in n.input}
    bind = {n: v for n, v in feeds.items() if v.dtype.kind in "iu" or n in resize_params}
    try:
        graph = import_onnx(case.model, bind=bind)
    except UnsupportedOpsError as e:
        return CaseResult(case.name, op, "skipped", "unsupported variant " + ", ".join(e.problems))
    except UnsupportedDtypeError as e:  # only this class: an error that mentions a dtype fails
        return CaseResult(case.name, op, "skipped", str(e).splitlines()[0])
    except FrontendError as e:
        return CaseResult(case.name, op, "failed", f"import: {str(e).splitlines()[0]}")
    except Exception as e:
        return CaseResult(case.name, op, "failed", f"import: {type(e).__name__}: {e}")
    feeds = {n: v for n, v in feeds.items() if n not in bind}
    try:
        got = run_graph(graph, feeds)
    except Exception as e:
        return CaseResult(case.name, op, "failed", f"run: {type(e).__name__}: {e}"[:300])
    if len(graph.outputs) != len(outputs):
        why = f"{len(graph.outputs)} outputs, the case expects {len(outputs)}"
        return CaseResult(case.name, op, "failed", why)
    for name, want in zip(graph.outputs, outputs, strict=True):
        have = got[name]
        if have.dtype != want.dtype:
            return CaseResult(
                case.name, op, "failed", f"{name}: dtype {have.dtype} != {want.dtype}"
            )
        if have.shape != want.shape:
            return CaseResult(
                case.name, op, "failed", f"{name}: shape {have.shape} != {want.shape}"
            )
        try:
            if want.dtype == object or want.dtype.kind in "biu":
                np.testing.assert_array_equal(have, want)
            else:
                np.testing.assert_allclose(have, want, rtol=case.rtol, atol=case.atol)
        except AssertionError as e:
            detail = " ".join(str(e).split())[:300]
            return CaseResult(case.name, op, "failed", f"data set {k} output {name}: {detail}")
    return None


def run_all(cases=None) -> list[CaseResult]:
    cases = collect_cases() if cases is None else cases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [run_case(c) for c in cases]


def per_op_table(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for r in results:
        row = table.setdefault(r.op, {"passed": 0, "failed": 0, "skipped": 0})
        row[r.status] += 1
    return dict(sorted(table.items()))
