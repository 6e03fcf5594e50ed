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


def test_map_knobs_reach_the_data_movement_and_resize_generators(rng):
    """Every MapKnobs point of transpose, pad, reshape (1-D, cut into rows) and resize gives
    the same (exact) result."""
    from compiler.cpu import resize as resize_mod
    from compiler.cpu import shape_ops
    from compiler.cpu.nest import map_knob_space

    x = rng.standard_normal((8, 32, 70)).astype(np.float32)
    cases = [
        ("transpose", (70, 8, 32), lambda kn: shape_ops.transpose(x.shape, (2, 0, 1), knobs=kn),
         x.transpose(2, 0, 1)),
        ("pad", (8, 33, 72), lambda kn: shape_ops.pad(x.shape, [(0, 0), (1, 0), (1, 1)], knobs=kn),
         np.pad(x, [(0, 0), (1, 0), (1, 1)])),
        ("reshape", (x.size,), lambda kn: shape_ops.reshape(x.shape, (x.size,), knobs=kn),
         x.reshape(-1)),
    ]  # fmt: skip
    for name, out_shape, make, ref in cases:
        for kn in map_knob_space(out_shape):
            y = np.empty(out_shape, np.float32)
            ops.kernel(("test_mapk", name, kn), lambda make=make, kn=kn: make(kn))(x, y)
            np.testing.assert_array_equal(y, ref)
    img = x[None, :3]  # [1, 3, 32, 70]
    iy = resize_mod.nearest_table(16, 32)
    ix = resize_mod.nearest_table(35, 70)
    for kn in map_knob_space((1, 3, 16, 35)):
        y = np.empty((1, 3, 16, 35), np.float32)
        k = ops.kernel(
            ("test_mapk_resize", kn),
            lambda kn=kn: resize_mod.resize(img.shape, (16, 35), "nearest", knobs=kn),
        )
        k(np.ascontiguousarray(img), iy, ix, y)
        np.testing.assert_array_equal(y, img[:, :, iy][:, :, :, ix])
