"""Every CPU operator on random shapes vs NumPy, drawn by hypothesis (derandomized, so each run
draws the same cases; VTAC_SWEEP scales the number of examples).

Tolerances: float32 results vs a float64 NumPy reference within 1e-4 of the output's largest
magnitude for reductions (conv, matmul, pooling sums), 1e-5 relative + absolute for softmax,
batch-norm and resize; data movement, max-pooling and the int8 ops are exact.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cpu import ops
from tests.conftest import sweep_size
from tests.cpu import npref

SETTINGS = settings(max_examples=sweep_size(20), deadline=None, derandomize=True)
dims = st.integers(1, 9)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _close_scaled(got, ref, rel=1e-4):
    assert got.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    np.testing.assert_allclose(got, ref, atol=rel * scale, rtol=0)


@SETTINGS
@given(
    n=st.integers(1, 2),
    groups=st.sampled_from([1, 2, 3, "depthwise"]),
    cg=st.integers(1, 4),
    og=st.integers(1, 3),
    hw=st.tuples(st.integers(3, 11), st.integers(3, 11)),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pads=st.tuples(*[st.integers(0, 2)] * 4),
    seed=st.integers(0, 2**16),
)
def test_conv2d_nchw(n, groups, cg, og, hw, k, stride, dilation, pads, seed):
    """NCHW conv2d: stride, asymmetric padding, dilation, groups, depthwise (direct kernel)."""
    g = 8 if groups == "depthwise" else groups
    cg, og = (1, 1) if groups == "depthwise" else (cg, og)
    rng = _rng(seed)
    x = rng.standard_normal((n, g * cg, *hw)).astype(np.float32)
    w = rng.standard_normal((g * og, cg, *k)).astype(np.float32)
    b = rng.standard_normal(g * og).astype(np.float32)
    ref = npref.conv2d(x, w, b, stride, pads, dilation, groups=g)
    if min(ref.shape[2:]) < 1:
        return  # the window does not fit: no output to compare
    got = ops.conv2d(x, w, b, stride=stride, pads=pads, dilation=dilation, groups=g)
    _close_scaled(got, ref)


@SETTINGS
@given(
    cb=st.integers(1, 3),
    ob=st.integers(1, 3),
    hw=st.tuples(st.integers(3, 12), st.integers(3, 12)),
    k=st.sampled_from([1, 3]),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    relu=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv2d_nchwc_blocked(cb, ob, hw, k, stride, dilation, relu, seed):
    """Channel counts in whole blocks and symmetric pads: the blocked NCHWc kernel."""
    rng = _rng(seed)
    c, o, p = 8 * cb, 8 * ob, (k // 2) * dilation
    x = rng.standard_normal((1, c, *hw)).astype(np.float32)
    w = rng.standard_normal((o, c, k, k)).astype(np.float32)
    ref = npref.conv2d(x, w, None, (stride,) * 2, (p,) * 4, (dilation,) * 2)
    got = ops.conv2d(x, w, stride=stride, pads=p, dilation=dilation, relu=relu)
    _close_scaled(got, np.maximum(ref, 0) if relu else ref)


@SETTINGS
@given(
    batch=st.sampled_from([(), (2,), (2, 3)]),
    m=dims,
    kdim=st.integers(1, 40),
    n=st.integers(1, 40),
    shared_b=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matmul_and_dense(batch, m, kdim, n, shared_b, seed):
    rng = _rng(seed)
    a = rng.standard_normal((*batch, m, kdim)).astype(np.float32)
    b = rng.standard_normal((kdim, n) if shared_b else (*batch, kdim, n)).astype(np.float32)
    _close_scaled(ops.matmul(a, b), a.astype(np.float64) @ b)
    a2 = a.reshape(-1, kdim)
    bias = rng.standard_normal(n).astype(np.float32)
    w = b if shared_b else b.reshape(-1, kdim, n)[0]
    _close_scaled(ops.dense(a2, w, bias), a2.astype(np.float64) @ w + bias)


@SETTINGS
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 5),
    hw=st.tuples(st.integers(4, 12), st.integers(4, 12)),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    pads=st.tuples(*[st.integers(0, 2)] * 4),
    seed=st.integers(0, 2**16),
)
def test_pooling(n, c, hw, k, s, pads, seed):
    pads = tuple(min(p, k - 1) for p in pads)  # ONNX: a pad is smaller than the window
    x = _rng(seed).standard_normal((n, c, *hw)).astype(np.float32)
    ref_max = npref.pool2d("max", x, (k, k), (s, s), pads)
    np.testing.assert_array_equal(ops.max_pool(x, k, s, pads), ref_max.astype(np.float32))
    ref_avg = npref.pool2d("avg", x, (k, k), (s, s), pads)
    np.testing.assert_allclose(ops.avg_pool(x, k, s, pads), ref_avg, rtol=1e-5, atol=1e-5)
    ref_gap = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(ops.global_avg_pool(x), ref_gap, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(shape=st.lists(dims, min_size=1, max_size=4), data=st.data(), seed=st.integers(0, 2**16))
def test_softmax_and_batch_norm(shape, data, seed):
    rng = _rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(ops.softmax(x, axis), ref, rtol=1e-5, atol=1e-6)
    if len(shape) >= 2:
        c = shape[1]
        g, b, m = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
        v = (rng.random(c) + 0.1).astype(np.float32)
        bshape = (1, c) + (1,) * (len(shape) - 2)
        ref_bn = (x64 - m.reshape(bshape)) / np.sqrt(v.reshape(bshape) + 1e-5)
        ref_bn = ref_bn * g.reshape(bshape) + b.reshape(bshape)
        np.testing.assert_allclose(ops.batch_norm(x, g, b, m, v), ref_bn, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(shape=st.lists(dims, min_size=1, max_size=4), data=st.data(), seed=st.integers(0, 2**16))
def test_data_movement(shape, data, seed):
    """reshape / transpose / concat / pad / slice: exact, on float32 and int8."""
    rng = _rng(seed)
    dtype = data.draw(st.sampled_from([np.float32, np.int8]), label="dtype")
    x = rng.integers(-100, 100, shape).astype(dtype)
    nd = len(shape)
    np.testing.assert_array_equal(ops.reshape(x, (-1,)), x.reshape(-1))
    np.testing.assert_array_equal(ops.reshape(x, (shape[0], -1)), x.reshape(shape[0], -1))
    perm = tuple(data.draw(st.permutations(range(nd)), label="perm"))
    np.testing.assert_array_equal(ops.transpose(x, perm), x.transpose(perm))
    axis = data.draw(st.integers(-nd, nd - 1), label="axis")
    other = list(shape)
    other[axis] = data.draw(dims, label="concat length")
    y = rng.integers(-100, 100, other).astype(dtype)
    np.testing.assert_array_equal(ops.concat([x, y], axis), np.concatenate([x, y], axis))
    pads = data.draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=nd,
                              max_size=nd), label="pads")  # fmt: skip
    np.testing.assert_array_equal(ops.pad(x, pads), np.pad(x, pads))
    np.testing.assert_array_equal(ops.pad(x, pads, "edge"), np.pad(x, pads, mode="edge"))
    slices = tuple(
        slice(
            data.draw(st.integers(-d - 1, d + 1) | st.none()),
            data.draw(st.integers(-d - 1, d + 1) | st.none()),
            data.draw(st.sampled_from([1, 2, 3, -1, -2]), label="step"),
        )
        for d in shape
    )
    np.testing.assert_array_equal(ops.slice_(x, slices), x[slices])


def _resize_ref(x, out_hw, method, mode):
    """NCHW resize in float64 per ONNX Resize (nearest: floor; linear: edge-clamped)."""
    axes = []
    for out_len, in_len in zip(out_hw, x.shape[2:], strict=True):
        o = np.arange(out_len, dtype=np.float64)
        if mode == "asymmetric":
            src = o * in_len / out_len
        elif mode == "half_pixel":
            src = (o + 0.5) * in_len / out_len - 0.5
        else:  # align_corners
            src = o * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros(out_len)
        axes.append(src)
    if method == "nearest":
        iy, ix = (
            np.clip(np.floor(s), 0, n - 1).astype(int)
            for s, n in zip(axes, x.shape[2:], strict=True)
        )
        return x[:, :, iy][:, :, :, ix]
    out = x.astype(np.float64)
    for ax, (src, n) in enumerate(zip(axes, x.shape[2:], strict=True), start=2):
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        frac = (src - lo).reshape([-1 if a == ax else 1 for a in range(4)])
        out = np.take(out, lo, axis=ax) * (1 - frac) + np.take(out, hi, axis=ax) * frac
    return out


@SETTINGS
@given(
    nc=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    in_hw=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    out_hw=st.tuples(st.integers(1, 17), st.integers(1, 17)),
    seed=st.integers(0, 2**16),
)
def test_resize_nearest_and_bilinear(nc, in_hw, out_hw, seed):
    x = _rng(seed).standard_normal((*nc, *in_hw)).astype(np.float32)
    got = ops.resize(x, out_hw, "nearest", "asymmetric", "floor")
    np.testing.assert_array_equal(got, _resize_ref(x, out_hw, "nearest", "asymmetric"))
    for mode in ("half_pixel", "align_corners", "asymmetric"):
        got = ops.resize(x, out_hw, "bilinear", mode)
        ref = _resize_ref(x, out_hw, "bilinear", mode)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(
    shape=st.lists(dims, min_size=1, max_size=3),
    scale=st.floats(0.01, 2.0),
    zero_point=st.integers(-20, 20),
    shift=st.integers(0, 12),
    bounds=st.sampled_from([(-128, 127), (0, 127), (-100, 50)]),
    seed=st.integers(0, 2**16),
)
def test_int8_boundary_ops(shape, scale, zero_point, shift, bounds, seed):
    """quantize (round half to even, saturate), dequantize, requantize (shift, clip): exact."""
    rng = _rng(seed)
    x = (rng.standard_normal(shape) * 100).astype(np.float32)
    q_ref = np.clip(np.round(x / np.float32(scale)) + zero_point, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(ops.quantize(x, scale, zero_point), q_ref)
    dq_ref = (q_ref.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
    np.testing.assert_array_equal(ops.dequantize(q_ref, scale, zero_point), dq_ref)
    acc = rng.integers(-(2**20), 2**20, shape).astype(np.int32)
    lo, hi = bounds
    np.testing.assert_array_equal(
        ops.requantize(acc, shift, lo, hi), np.clip(acc >> shift, lo, hi).astype(np.int8)
    )
