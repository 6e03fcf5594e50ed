"""vtac's own ops: the int8 quantized datapath and the accelerator's blocked layouts.

These kernels are bit-exact definitions with NumPy integer math; the VTA and CPU backends are
differentially tested against them. Scales are powers of two: a tensor with exponent `e`
holds real value `q * 2**e` (`e` a float where scales are free: requant="mul").

- `vtac.quantize(x: f32) {exp}` -> i8: clip(rint(x * 2**-exp), -128, 127) (half to even).
- `vtac.dequantize(q: i8|i32) {exp}` -> f32: q * 2**exp.
- `vtac.conv2d(x: i8, w: i8, b: i32 | _) {strides, pads, dilations, group, packed}` -> i32:
  integer convolution with int32 accumulation, plus the int32 bias.
- `vtac.dense(x: i8[M,K], w: i8[N,K], b: i32[N] | _) {packed}` -> i32: x @ w.T + b.
- `vtac.add(a: i32|i8, b: i32|i8, align: i32[C] | _) {shift_a, shift_b}` -> i32:
  (a' << shift_a) + (b << shift_b) with a' = a, or with `align` a per-channel rounding right
  shift a'[.., c, ..] = (a + r[c]) >> align[c], r[c] = 2**(align[c]-1) for align[c] > 0
  (align[c] >= 0): it brings a per-channel-exponent accumulator to one exponent.
  With a fourth input `mult: i32[C]` (and attribute `shift_m`), a' is instead the fixed-point
  rescale `fixed_point(a, align, mult, shift_m)` below (free per-channel weight scales).
- `vtac.max(a: i32|i8, b: i32|i8, align: i32[C] | _) {shift_a, shift_b}` -> i32:
  max(a' << shift_a, b << shift_b), a' as for `vtac.add` (LeakyRelu / PRelu as
  max(v, slope * v), `compiler/graph/passes/prelu_as_conv.py`).
- `vtac.requantize(acc: i32, shifts: i32[C] | _) {shift, lo, hi}` -> i8: clip((acc + r) >> s,
  lo, hi) with s = shift, or s[c] = shift + shifts[c] per output channel when the constant
  `shifts` vector is given (per-channel weight scales); r = 2**(s-1) for s > 0 (round half
  up), an arithmetic right shift; s <= 0 is a left shift. One ALU add-immediate, shift, min and
  max on the accelerator (the per-channel part: one tensor SHR by a per-channel shift row).
  With a third input `mult: i32[C]` (the ALU's MUL; free per-channel scales), `shifts` is a
  pre-shift and `shift` the shift after the product:
  clip(fixed_point(acc, shifts, mult, shift), lo, hi).
- fixed_point(a, p, M, q) = round_shift_right(clip(round_shift_right(a, p[c]), -MUL_CLAMP,
  MUL_CLAMP) * M[c], q), p[c] >= 0, q >= 0, all in int64: a rescale of channel c by
  M[c] / 2**(p[c] + q). The clamp to +-(2**15 - 1) keeps the product inside int32 for any
  |M[c]| <= MUL_MAX (the accelerator multiplies in int32); the compiler picks p so that a
  clamped value saturates the result anyway (`compiler/graph/quant/fixed_point.py`).
  Channel axis of the per-channel vectors: axis 1 (NCHW and dense NC); with `packed=1` the
  blocked layout's channel is (axis 1, last axis): c = block * bc + lane, and the vector is
  zero-padded to whole blocks.
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
# fixed_point's clamp after the pre-shift: an ALU MIN/MAX immediate (16 bits signed).
MUL_CLAMP = (1 << 15) - 1
# The largest multiplier: MUL_CLAMP * MUL_MAX plus a rounding constant up to 2**14 (added
# before the final shift when it is <= 15, vta-isa.md §2.5) stays below 2**31.
MUL_MAX = ((1 << 31) - 1 - (1 << 14)) // MUL_CLAMP


def quantize_array(x: np.ndarray, exp: int) -> np.ndarray:
    return np.clip(np.rint(x.astype(np.float64) * 2.0**-exp), INT8_MIN, INT8_MAX).astype(np.int8)


def requantize_array(acc: np.ndarray, shift, lo: int, hi: int) -> np.ndarray:
    """clip(round_shift_right(acc, shift), lo, hi) as int8; `shift` a scalar or a per-element
    array (a per-channel vector shaped by `channel_vector`)."""
    return np.clip(round_shift_right(acc, shift), lo, hi).astype(np.int8)


def channel_vector(v: np.ndarray, x: np.ndarray, packed: bool, what: str) -> np.ndarray:
    """The int64 per-channel vector `v` shaped to broadcast over `x`'s channel axis (axis 1;
    packed: axes 1 and -1), or ValueError naming `what` if its length does not match."""
    v = np.asarray(v).astype(np.int64).reshape(-1)
    if packed:
        if x.ndim < 4 or v.size != x.shape[1] * x.shape[-1]:
            raise ValueError(f"{what}: {v.size} entries for blocked shape {x.shape}")
        return v.reshape((1, x.shape[1]) + (1,) * (x.ndim - 3) + (x.shape[-1],))
    if x.ndim < 2 or v.size != x.shape[1]:
        raise ValueError(f"{what}: {v.size} entries for the channels of shape {x.shape}")
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def round_shift_right(acc: np.ndarray, shift) -> np.ndarray:
    """(acc + 2**(shift-1)) >> shift where shift > 0, acc << -shift where shift < 0 (int64;
    `shift` a scalar or an array broadcasting against `acc`)."""
    acc = acc.astype(np.int64)
    s = np.asarray(shift, dtype=np.int64)
    right = np.maximum(s, 0)
    rnd = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    return np.where(s >= 0, (acc + rnd) >> right, acc << np.maximum(-s, 0))


def fixed_point(a: np.ndarray, pre, mult, shift: int) -> np.ndarray:
    """The per-channel fixed-point rescale (module docstring), int64; `pre` and `mult` scalars
    or arrays broadcasting against `a`."""
    m = np.asarray(mult, dtype=np.int64)
    if np.abs(m).max(initial=0) > MUL_MAX:
        raise ValueError(f"fixed-point multipliers up to {MUL_MAX}, got {int(np.abs(m).max())}")
    if np.asarray(pre).min(initial=0) < 0 or shift < 0:
        raise ValueError("fixed-point pre-shifts and shift must be >= 0 (right shifts)")
    a1 = np.clip(round_shift_right(a, pre), -MUL_CLAMP, MUL_CLAMP)
    return round_shift_right(a1 * m, shift)


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
    return quantize_array(x, _exp(ctx))


@kernel("vtac.dequantize")
def dequantize(ctx: KernelCtx, q: np.ndarray) -> np.ndarray:
    return (q.astype(np.float64) * 2.0 ** _exp(ctx)).astype(np.float32)


def _exp(ctx: KernelCtx) -> int | float:
    """The `exp` attribute: an integer (a power-of-two scale), or with free scales
    (requant="mul") any float, log2 of the scale."""
    e = ctx.attr("exp")
    return int(e) if float(e).is_integer() else float(e)


def _per_channel(ctx: KernelCtx, v: np.ndarray, x: np.ndarray, what: str) -> np.ndarray:
    try:
        return channel_vector(v, x, bool(ctx.attr("packed", 0)), what)
    except ValueError as e:
        raise ctx.error(str(e)) from None


@kernel("vtac.requantize")
def requantize(ctx: KernelCtx, acc: np.ndarray, shifts=None, mult=None) -> np.ndarray:
    shift = int(ctx.attr("shift"))
    lo, hi = int(ctx.attr("lo")), int(ctx.attr("hi"))
    if mult is not None:
        pre = 0 if shifts is None else _per_channel(ctx, shifts, acc, "per-channel pre-shifts")
        m = _per_channel(ctx, mult, acc, "per-channel multipliers")
        try:
            y = fixed_point(acc, pre, m, shift)
        except ValueError as e:
            raise ctx.error(str(e)) from None
        return np.clip(y, lo, hi).astype(np.int8)
    if shifts is not None:
        shift = shift + _per_channel(ctx, shifts, acc, "per-channel shifts")
    return requantize_array(acc, shift, lo, hi)


@kernel("vtac.add")
def add(ctx: KernelCtx, a: np.ndarray, b: np.ndarray, align=None, mult=None):
    sa, sb = int(ctx.attr("shift_a", 0)), int(ctx.attr("shift_b", 0))
    a = _aligned(ctx, a, align, mult)
    return ((a << sa) + (b.astype(np.int64) << sb)).astype(np.int32)


def _aligned(ctx: KernelCtx, a: np.ndarray, align, mult=None) -> np.ndarray:
    """`a` as int64, rounded to one exponent by the per-channel right shifts `align`, or
    rescaled to one scale by `fixed_point(a, align, mult, shift_m)`."""
    a = a.astype(np.int64)
    if mult is not None:
        pre = 0 if align is None else _per_channel(ctx, align, a, "per-channel pre-shifts")
        m = _per_channel(ctx, mult, a, "per-channel multipliers")
        try:
            return fixed_point(a, pre, m, int(ctx.attr("shift_m", 0)))
        except ValueError as e:
            raise ctx.error(str(e)) from None
    if align is not None:
        k = _per_channel(ctx, align, a, "per-channel align")
        if k.min(initial=0) < 0:
            raise ctx.error("per-channel align shifts must be >= 0 (right shifts)")
        a = round_shift_right(a, k)
    return a


@kernel("vtac.max")
def maximum(ctx: KernelCtx, a: np.ndarray, b: np.ndarray, align=None, mult=None):
    sa, sb = int(ctx.attr("shift_a", 0)), int(ctx.attr("shift_b", 0))
    a = _aligned(ctx, a, align, mult)
    return np.maximum(a << sa, b.astype(np.int64) << sb).astype(np.int32)


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
