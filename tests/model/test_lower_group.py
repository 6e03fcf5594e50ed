"""lower_group: the graph's int8 epilogue semantics as ALU step lists, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.lower_group import LoweringError, _requantize_steps
from compiler.graph.ir import Node
from compiler.graph.ref.vtac_ops import requantize_array


def _apply(steps, acc: np.ndarray) -> np.ndarray:
    """The ALU's int32 semantics of a step list (wrapping adds, arithmetic shifts)."""
    x = acc.astype(np.int32)
    for st in steps:
        if st[0] == "add_imm":
            x = (x.astype(np.int64) + st[1]).astype(np.int32)
        elif st[0] == "shr":
            x = x >> st[1] if st[1] >= 0 else (x.astype(np.int64) << -st[1]).astype(np.int32)
        elif st[0] == "clip":
            x = np.clip(x, st[1], st[2])
        else:
            raise AssertionError(st)
    return x.astype(np.int8)


@pytest.mark.parametrize("shift", [-6, -1, 0, 1, 7, 8, 15, 16, 20, 29])
@pytest.mark.parametrize("lo_hi", [(0, 127), (-128, 127)])
def test_requantize_steps_are_bit_exact(shift, lo_hi, rng):
    node = Node(
        "rq", "vtac.requantize", ("a",), ("b",), {"shift": shift, "lo": lo_hi[0], "hi": lo_hi[1]}
    )
    steps = _requantize_steps(node)
    assert all(abs(s[1]) <= 15 for s in steps if s[0] == "shr")  # the portable immediate range
    acc = rng.integers(-(2**31), 2**31 - 2**29, 20000).astype(np.int32)
    span = 200 << max(shift, 0) if shift < 23 else 2**30
    small = rng.integers(-span, span, 20000).astype(np.int32)  # mostly unsaturated outputs
    for a in (acc, small, np.array([0, 1, -1, 2**shift if 0 < shift < 31 else 3], np.int32)):
        np.testing.assert_array_equal(_apply(steps, a), requantize_array(a, shift, *lo_hi))
    if 0 <= shift < 23:
        q = requantize_array(small, shift, *lo_hi)
        assert np.mean((q > lo_hi[0]) & (q < lo_hi[1])) > 0.25  # rounding really exercised


def test_left_shift_beyond_range_is_refused():
    node = Node("rq", "vtac.requantize", ("a",), ("b",), {"shift": -16, "lo": 0, "hi": 127})
    with pytest.raises(LoweringError, match="left shift 16"):
        _requantize_steps(node)


def test_rounding_folds_into_the_bias_only_across_additions():
    from compiler.driver.lower_group import fold_rounding_into_bias

    rq = [("add_imm", 128), ("shr", 8), ("clip", 0, 127)]
    assert fold_rounding_into_bias([("bias",), *rq]) == ([("bias",), *rq[1:]], 128)
    with_res = [("bias",), ("residual", 3), *rq]
    assert fold_rounding_into_bias(with_res) == ([("bias",), ("residual", 3), *rq[1:]], 128)
    shifted = [("bias",), ("shr", -2), ("residual", 0), *rq]  # a shift in between: no fold
    assert fold_rounding_into_bias(shifted) == (shifted, 0)
    assert fold_rounding_into_bias(rq) == (rq, 0)  # no bias to carry it
    # That the folded kernels compute the graph's values is checked bit-exactly by the
    # whole-model tests (test_model_sim.py), whose every conv has a bias and a requantize.
