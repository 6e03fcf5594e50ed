"""Data movement (exact) and resize (vs onnxruntime's Resize, 1e-5) on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cpu import ops


def test_reshape_transpose_concat(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(ops.reshape(x, (6, -1)), x.reshape(6, -1))
    for perm in ((0, 2, 3, 1), (3, 2, 1, 0), (1, 0, 2, 3)):
        np.testing.assert_array_equal(ops.transpose(x, perm), x.transpose(perm))
    y = rng.standard_normal((2, 7, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(ops.concat([x, y, x], 1), np.concatenate([x, y, x], 1))
    z = rng.integers(-9, 9, (3, 4)).astype(np.int8)
    np.testing.assert_array_equal(ops.concat([z, z], -1), np.concatenate([z, z], -1))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad(mode, rng):
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    pads = [(0, 1), (0, 0), (2, 3), (1, 4)]
    ref = np.pad(x, pads, mode=mode, **({"constant_values": 1.5} if mode == "constant" else {}))
    np.testing.assert_array_equal(ops.pad(x, pads, mode, 1.5), ref)


def test_slice(rng):
    x = rng.standard_normal((4, 9, 10)).astype(np.float32)
    for sl in (
        (slice(1, 3), slice(None, None, 2)),
        (slice(None), slice(8, 0, -3), slice(-4, None)),
        (slice(3, 4),),
        (slice(3, 1),),  # empty, as ONNX Slice may produce
    ):
        np.testing.assert_array_equal(ops.slice_(x, sl), x[sl])


def _ort_resize(x, out_hw, mode, coord, nearest_mode="floor"):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    sizes = np.array(x.shape[:2] + tuple(out_hw), np.int64)
    node = helper.make_node(
        "Resize",
        ["x", "", "", "sizes"],
        ["y"],
        mode=mode,
        coordinate_transformation_mode=coord,
        nearest_mode=nearest_mode,
    )
    g = helper.make_graph(
        [node],
        "r",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(sizes, "sizes")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("out_hw", [(12, 20), (5, 3), (7, 7)])
def test_resize_matches_onnxruntime(out_hw, rng):
    x = rng.standard_normal((1, 3, 6, 10)).astype(np.float32)
    got = ops.resize(x, out_hw, "nearest", "asymmetric", "floor")
    np.testing.assert_array_equal(got, _ort_resize(x, out_hw, "nearest", "asymmetric"))
    for coord in ("half_pixel", "align_corners"):
        got = ops.resize(x, out_hw, "bilinear", coord)
        np.testing.assert_allclose(got, _ort_resize(x, out_hw, "linear", coord), atol=1e-5)


def test_errors_name_the_problem():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="not a permutation"):
        ops.transpose(x, (0, 0))
    with pytest.raises(ValueError, match="mode 'wrap'"):
        ops.pad(x, [(1, 1), (0, 0)], "wrap")
    with pytest.raises(ValueError, match="negative pads"):
        ops.pad(x, [(-1, 0), (0, 0)])
