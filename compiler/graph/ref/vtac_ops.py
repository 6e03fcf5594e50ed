"""vtac's own ops: the int8 quantized datapath and the accelerator's blocked layouts.

These kernels are bit-exact definitions with NumPy integer math; the VTA and CPU backends are
differentially tested against them. Scales are powers of two: a tensor with exponent `e`
holds real value `q * 2**e`.

- `vtac.quantize(x: f32) {exp}` -> i8: clip(rint(x * 2**-exp), -128, 127) (half to even).
- `vtac.dequantize(q: i8|i32) {exp}` -> f32: q * 2**exp.
- `vtac.conv2d(x: i8, w: i8, b: i32 | _) {strides, pads, dilations, group, packed}` -> i32:
  integer convolution with int32 accumulation, plus the int32 bias.
- `vtac.dense(x: i8[M,K], w: i8[N,K], b: i32[N] | _) {packed}` -> i32: x @ w.T + b.
- `vtac.add(a: i32|i8, b: i32|i8) {shift_a, shift_b}` -> i32: (a << shift_a) + (b << shift_b).
- `vtac.max(a: i32|i8, b: i32|i8) {shift_a, shift_b}` -> i32: max(a << shift_a, b << shift_b)
  (LeakyRelu / PRelu as max(v, slope * v), `compiler/graph/passes/prelu_as_conv.py`).
- `vtac.requantize(acc: i32) {shift, lo, hi}` -> i8: clip((acc + r) >> shift, lo, hi) with
  r = 2**(shift-1) for shift > 0 (round half up), an arithmetic right shift; shift <= 0 is a
  left shift. One ALU add-immediate, shift, min and max on the accelerator.
- `vtac.pack(x) {bn, bc}` -> blocked layout: NCHW -> [N/bn, C/bc, H, W, bn, bc] or
  NC -> [N/bn, C/bc, bn, bc], zero-padding N and C up to the block.
- `vtac.unpack(x) {n, c}` -> the inverse, dropping the padding (back to n rows, c channels).
- `vtac.pack_weight(w) {bc}` -> OIHW -> [O/bc, I/bc, KH, KW, bc, bc] or OI -> [O/bc, I/bc, bc, bc].
With `packed=1`, `vtac.conv2d`/`vtac.dense` take and return blocked tensors (weights blocked
with `vtac.pack_weight`, bias padded to the blocked output channels).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KernelCtx, kernel
from compiler.graph.ref.nn import conv_nd

INT8_MIN, INT8_MAX = -128, 127


def quantize_array(x: np.ndarray, exp: int) -> np.ndarray:
    return np.clip(np.rint(x.astype(np.float64) * 2.0**-exp), INT8_MIN, INT8_MAX).astype(np.int8)


def requantize_array(acc: np.ndarray, shift: int, lo: int, hi: int) -> np.ndarray:
    acc = acc.astype(np.int64)
    if shift > 0:
        acc = (acc + (1 << (shift - 1))) >> shift
    elif shift < 0:
        acc = acc << -shift
    return np.clip(acc, lo, hi).astype(np.int8)


def pack_array(x: np.ndarray, bn: int, bc: int) -> np.ndarray:
    """(N, C, ...) -> (N/bn, C/bc, ..., bn, bc): the blocked layout, N and C zero-padded."""
    n, c = x.shape[:2]
    pn, pc = -(-n // bn) * bn, -(-c // bc) * bc
    rest = x.shape[2:]
    xp = np.zeros((pn, pc) + rest, dtype=x.dtype)
    xp[:n, :c] = x
    t = xp.reshape((pn // bn, bn, pc // bc, bc) + rest)
    nsp = len(rest)
    perm = (0, 2) + tuple(range(4, 4 + nsp)) + (1, 3)
    return np.ascontiguousarray(t.transpose(perm))


def unpack_array(x: np.ndarray, n: int, c: int) -> np.ndarray:
    nsp = x.ndim - 4
    perm = (0, x.ndim - 2, 1, x.ndim - 1) + tuple(range(2, 2 + nsp))
    t = x.transpose(perm)
    shape = (t.shape[0] * t.shape[1], t.shape[2] * t.shape[3]) + t.shape[4:]
    return np.ascontiguousarray(t.reshape(shape)[:n, :c])


def pack_weight_array(w: np.ndarray, bc: int) -> np.ndarray:
    """(O, I, ...) weights -> (O/bc, I/bc, ..., bc, bc), both channel axes padded to `bc`."""
    return pack_array(w, bc, bc)


def unpack_weight_array(w: np.ndarray) -> np.ndarray:
    return unpack_array(w, w.shape[0] * w.shape[-2], w.shape[1] * w.shape[-1])


@kernel("vtac.quantize")
def quantize(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return quantize_array(x, int(ctx.attr("exp")))


@kernel("vtac.dequantize")
def dequantize(ctx: KernelCtx, q: np.ndarray) -> np.ndarray:
    return (q.astype(np.float64) * 2.0 ** int(ctx.attr("exp"))).astype(np.float32)


@kernel("vtac.requantize")
def requantize(ctx: KernelCtx, acc: np.ndarray) -> np.ndarray:
    return requantize_array(acc, int(ctx.attr("shift")), int(ctx.attr("lo")), int(ctx.attr("hi")))


@kernel("vtac.add")
def add(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sa, sb = int(ctx.attr("shift_a", 0)), int(ctx.attr("shift_b", 0))
    return ((a.astype(np.int64) << sa) + (b.astype(np.int64) << sb)).astype(np.int32)


@kernel("vtac.max")
def maximum(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sa, sb = int(ctx.attr("shift_a", 0)), int(ctx.attr("shift_b", 0))
    return np.maximum(a.astype(np.int64) << sa, b.astype(np.int64) << sb).astype(np.int32)


def _check_int8(ctx: KernelCtx, *arrays: np.ndarray) -> None:
    for a in arrays:
        if a.dtype != np.int8:
            raise ctx.error(f"expects int8 operands, got {a.dtype}")


def _gemm_operands(ctx: KernelCtx, x: np.ndarray, w: np.ndarray):
    """Int8 operands in the plain layout, and the (bn, bc) block of a packed node (else None)."""
    _check_int8(ctx, x, w)
    if not ctx.attr("packed", 0):
        return x, w, None
    bn, bc = x.shape[-2], x.shape[-1]
    return unpack_array(x, x.shape[0] * bn, x.shape[1] * bc), unpack_weight_array(w), (bn, bc)


def _int32_accumulator(acc: np.ndarray, b: np.ndarray | None, bias_shape, block) -> np.ndarray:
    """Exact integer sums (float64) + int32 bias, wrapped to int32, in the node's layout."""
    acc = acc.astype(np.int64)
    if b is not None:
        acc = acc + b.astype(np.int64).reshape(bias_shape)
    acc = acc.astype(np.int32)
    return pack_array(acc, *block) if block else acc


@kernel("vtac.conv2d")
def conv2d(ctx: KernelCtx, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None):
    x, w, block = _gemm_operands(ctx, x, w)
    strides = list(ctx.attr("strides", (1, 1)))
    dil = list(ctx.attr("dilations", (1, 1)))
    pads = list(ctx.attr("pads", (0, 0, 0, 0)))
    group = int(ctx.attr("group", 1))
    # Products of int8 values summed in float64 are exact integers (|sum| < 2**53 for any
    # realistic K), and float64 uses BLAS; then a wrap to int32 models the accumulator.
    acc = conv_nd(x, w, strides, pads[:2], pads[2:], dil, group, acc_dtype=np.float64)
    return _int32_accumulator(acc, b, (1, -1, 1, 1), block)


@kernel("vtac.dense")
def dense(ctx: KernelCtx, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None):
    x, w, block = _gemm_operands(ctx, x, w)
    acc = x.astype(np.float64) @ w.astype(np.float64).T
    return _int32_accumulator(acc, b, (1, -1), block)


@kernel("vtac.pack")
def pack(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return pack_array(x, int(ctx.attr("bn")), int(ctx.attr("bc")))


@kernel("vtac.unpack")
def unpack(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return unpack_array(x, int(ctx.attr("n")), int(ctx.attr("c")))


@kernel("vtac.pack_weight")
def pack_weight(ctx: KernelCtx, w: np.ndarray) -> np.ndarray:
    return pack_weight_array(w, int(ctx.attr("bc")))
