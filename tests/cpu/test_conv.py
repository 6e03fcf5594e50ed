"""conv2d on the CPU vs NumPy: blocked NCHWc, depthwise, direct (groups, dilation, asymmetric
pads) and int8 (bit-exact). float32 tolerance: 1e-4 relative to the output's max magnitude."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.cpu import ops
from compiler.cpu.conv2d import Conv2dKnobs, Conv2dShape, conv2d_nchwc, default_knobs
from tests.conftest import sweep_size
from tests.cpu import npref

RTOL = 1e-4


def close(got, ref):
    assert got.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, atol=RTOL * scale, rtol=0)


def test_random_blocked_convs(rng):
    for _ in range(sweep_size(6)):
        c = int(rng.choice([8, 16, 24, 32]))
        o = int(rng.choice([8, 16, 32, 48]))
        k = int(rng.choice([1, 3, 5]))
        s = int(rng.choice([1, 2]))
        h, w = (int(v) for v in rng.integers(k, 20, 2))
        p = int(rng.integers(0, k // 2 + 1))
        x = rng.standard_normal((1, c, h, w)).astype(np.float32)
        wt = rng.standard_normal((o, c, k, k)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        close(ops.conv2d(x, wt, b, stride=s, pads=p), npref.conv2d(x, wt, b, (s, s), (p, p, p, p)))


def test_batch_relu_dilation_and_odd_tiles(rng):
    x = rng.standard_normal((2, 16, 13, 17)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    ref = np.maximum(npref.conv2d(x, w, None, (1, 1), (2, 2, 2, 2), (2, 2)), 0)
    close(ops.conv2d(x, w, pads=2, dilation=2, relu=True), ref)


@pytest.mark.parametrize(
    "knobs",
    [
        Conv2dKnobs(8, 8, 3, False),
        Conv2dKnobs(16, 16, 7, True),
        Conv2dKnobs(8, 16, 6, False),
        Conv2dKnobs(8, 32, 2, True),
    ],
)
def test_every_knob_setting_is_correct(knobs, rng):
    x = rng.standard_normal((1, 32, 9, 11)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    close(ops.conv2d(x, w, pads=1, knobs=knobs), npref.conv2d(x, w, None, (1, 1), (1, 1, 1, 1)))


def test_resnet_first_layer_shape_with_three_channels(rng):
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    w = rng.standard_normal((64, 3, 7, 7)).astype(np.float32)
    close(ops.conv2d(x, w, stride=2, pads=3), npref.conv2d(x, w, None, (2, 2), (3, 3, 3, 3)))


def test_grouped_blocked_and_direct(rng):
    x = rng.standard_normal((1, 64, 10, 10)).astype(np.float32)
    w = rng.standard_normal((64, 16, 3, 3)).astype(np.float32)  # 4 groups of 16: blocked path
    close(
        ops.conv2d(x, w, pads=1, groups=4), npref.conv2d(x, w, None, (1, 1), (1, 1, 1, 1), groups=4)
    )
    x = rng.standard_normal((1, 6, 9, 8)).astype(np.float32)
    w = rng.standard_normal((9, 2, 3, 3)).astype(np.float32)  # 3 groups of 2: direct path
    ref = npref.conv2d(x, w, None, (2, 1), (0, 1, 2, 1), groups=3)
    close(ops.conv2d(x, w, stride=(2, 1), pads=(0, 1, 2, 1), groups=3), ref)


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise(stride, rng):
    x = rng.standard_normal((1, 32, 15, 14)).astype(np.float32)
    w = rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    ref = npref.conv2d(x, w, b, (stride, stride), (1, 1, 1, 1), groups=32)
    close(ops.conv2d(x, w, b, stride=stride, pads=1, groups=32), ref)


def test_int8_conv_is_bit_exact(rng):
    x = rng.integers(-128, 128, (1, 8, 12, 12)).astype(np.int8)
    w = rng.integers(-128, 128, (16, 8, 3, 3)).astype(np.int8)
    b = rng.integers(-(2**14), 2**14, 16).astype(np.int32)
    got = ops.conv2d(x, w, b, pads=1)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, npref.conv2d(x, w, b, (1, 1), (1, 1, 1, 1)))


def test_default_knobs_fit_the_registers_and_the_shape():
    for c, o in ((3, 64), (64, 64), (256, 512)):
        shape = Conv2dShape(1, c, 14, 14, o, 3, 3, (1, 1), (1, 1))
        k = default_knobs(shape, 8)
        assert c % k.ic_bn == 0 and o % k.oc_bn == 0
        assert (k.oc_bn // 8) * (k.ow_tile + 1) + 1 <= 16


def test_bad_knobs_name_the_knob():
    shape = Conv2dShape(1, 24, 8, 8, 24, 3, 3)
    with pytest.raises(ValueError, match="ic_bn=16"):
        conv2d_nchwc(shape, Conv2dKnobs(16, 8, 4))


def test_chain_epilogue_borders_and_residual(rng):
    """Data with a wider zero border than the conv needs, output into a bordered buffer, and a
    fused residual add + ReLU: the interior matches NumPy, the border stays zero."""
    from compiler.cpu.layout import pack_conv_weight, pack_nchwc_numpy, unpack_nchwc_numpy

    x = rng.standard_normal((1, 16, 9, 9)).astype(np.float32)
    w = rng.standard_normal((16, 16, 1, 1)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    res = rng.standard_normal((1, 16, 5, 5)).astype(np.float32)
    shape = Conv2dShape(1, 16, 9, 9, 16, 1, 1, (2, 2), (0, 0))
    kn = Conv2dKnobs(16, 16, 4)
    k = ops.kernel(
        ("test_chain", shape, kn),
        lambda: conv2d_nchwc(shape, kn, True, True, in_pad=(1, 1), out_pad=1, residual=True),
    )
    out = np.zeros((1, 1, 7, 7, 16), np.float32)
    resb = pack_nchwc_numpy(res, 16, (1, 1))
    k(pack_nchwc_numpy(x, 16, (1, 1)), pack_conv_weight(w, 16, 16), b.reshape(1, 16), resb, out)
    ref = np.maximum(npref.conv2d(x, w, b, (2, 2)) + res, 0)
    close(unpack_nchwc_numpy(out[:, :, 1:-1, 1:-1]), ref)
    border = out.copy()
    border[:, :, 1:-1, 1:-1] = 0
    assert not border.any()


def test_knob_space_contains_the_default_and_only_valid_points(rng):
    from compiler.cpu.conv2d import knob_space

    shape = Conv2dShape(1, 32, 6, 6, 32, 3, 3, (1, 1), (1, 1))
    space = knob_space(shape, 8)
    assert default_knobs(shape, 8) in space and len(space) > 10
    x = rng.standard_normal((1, 32, 6, 6)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    ref = npref.conv2d(x, w, None, (1, 1), (1, 1, 1, 1))
    for k in rng.choice(len(space), 3, replace=False):  # a few random points run correctly
        close(ops.conv2d(x, w, pads=1, knobs=space[int(k)]), ref)


def test_int8_blocked_conv_is_bit_exact(rng):
    """int8 NCHWc kernel (register tiles, int32 accumulators), grouped and with a fused ReLU."""
    x = rng.integers(-128, 128, (1, 32, 11, 9)).astype(np.int8)
    w = rng.integers(-128, 128, (32, 16, 3, 3)).astype(np.int8)
    b = rng.integers(-(2**14), 2**14, 32).astype(np.int32)
    got = ops.conv2d(x, w, b, stride=2, pads=1, groups=2, relu=True)
    ref = np.maximum(npref.conv2d(x, w, b, (2, 2), (1, 1, 1, 1), groups=2), 0)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref)


def test_depthwise_knob_space_points_are_correct(rng):
    """The depthwise schedule is a function of DepthwiseKnobs; every point gives the result of
    NumPy (block of 1 or 2 registers of channels, each register tile)."""
    from compiler.cpu.depthwise import (
        DepthwiseKnobs,
        default_depthwise_knobs,
        depthwise_knob_space,
        depthwise_nchwc,
        pack_depthwise_weight,
    )
    from compiler.cpu.layout import pack_nchwc_numpy, unpack_nchwc_numpy

    shape = Conv2dShape(1, 32, 9, 10, 32, 3, 3, (1, 2), (1, 1), groups=32)
    space = depthwise_knob_space(shape, 8)
    assert default_depthwise_knobs(shape, 8) in space and {k.bn for k in space} == {8, 16}
    x = rng.standard_normal((1, 32, 9, 10)).astype(np.float32)
    w = rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    ref = np.maximum(npref.conv2d(x, w, b, (1, 2), (1, 1, 1, 1), groups=32), 0)
    oh, ow = shape.out_hw
    for kn in space:
        k = ops.kernel(("test_dw", shape, kn), lambda kn=kn: depthwise_nchwc(shape, kn, True, True))
        out = np.empty((1, 32 // kn.bn, oh, ow, kn.bn), np.float32)
        k(pack_nchwc_numpy(x, kn.bn, (1, 1)), pack_depthwise_weight(w, kn.bn),
          b.reshape(-1, kn.bn), out)  # fmt: skip
        close(unpack_nchwc_numpy(out), ref)
    with pytest.raises(ValueError, match="knob bn=24"):
        depthwise_nchwc(shape, DepthwiseKnobs(24, 4))


@pytest.mark.parametrize("kh, kw", [(1, 3), (3, 1), (1, 7), (7, 1), (3, 5), (5, 3)])
def test_non_square_kernels_blocked_nchwc(kh, kw, rng):
    """kh != kw with symmetric pads (Inception's 1x7 / 7x1): both the in-network NCHWc kernel
    and the NCHW entry point. A swap of the kernel-height and -width loops fails here."""
    from compiler.cpu.layout import pack_conv_weight, pack_nchwc_numpy, unpack_nchwc_numpy

    pad = (kh // 2, kw // 2)
    x = rng.standard_normal((1, 16, 11, 9)).astype(np.float32)
    w = rng.standard_normal((32, 16, kh, kw)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    ref = npref.conv2d(x, w, b, (1, 1), (pad[0], pad[1], pad[0], pad[1]))
    close(ops.conv2d(x, w, b, pads=pad), ref)
    shape = Conv2dShape(1, 16, 11, 9, 32, kh, kw, (1, 1), pad)
    kn = Conv2dKnobs(16, 16, 3)
    k = ops.kernel(("test_nonsquare", shape, kn), lambda: conv2d_nchwc(shape, kn, True, False))
    out = np.zeros((1, 2, 11, 9, 16), np.float32)
    k(pack_nchwc_numpy(x, 16, pad), pack_conv_weight(w, 16, 16), b.reshape(2, 16), out)
    close(unpack_nchwc_numpy(out), ref)
