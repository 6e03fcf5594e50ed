"""Vector math emitted inline, where LLVM would call libm once per lane.

`exp_f32(builder, x)`: e**x on a `<n x float>` by the Cephes `expf` scheme: x = k ln2 + r with
|r| <= ln2/2, a degree-6 polynomial for e**r, and 2**k assembled in the exponent bits. Input is
clamped to [-88.376, 88.376] (so +inf gives ~2.4e38, not inf, and results below ~1e-38 flush to
0); relative error about 2 ulp elsewhere. `tanh_f32` builds on it. Scalars keep using the
LLVM intrinsics (libm).
"""

from __future__ import annotations

from compiler.llvm.binding import ir

_HI, _LO = 88.3762626647949, -88.3762626647949
_LOG2E = 1.44269504088896341
_C1, _C2 = 0.693359375, -2.12194440e-4  # ln2 split so k * C1 is exact
_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
         1.6666665459e-1, 5.0000001201e-1)  # fmt: skip


def _splat(ty: ir.VectorType, value) -> ir.Constant:
    return ir.Constant(ty, [value] * ty.count)


def exp_f32(b: ir.IRBuilder, x: ir.Value, floor_fn) -> ir.Value:
    """`floor_fn(v)` emits llvm.floor on a vector (the caller owns intrinsic declarations)."""
    ty = x.type
    ity = ir.VectorType(ir.IntType(32), ty.count)
    x = b.select(b.fcmp_ordered(">", x, _splat(ty, _HI)), _splat(ty, _HI), x)
    x = b.select(b.fcmp_ordered("<", x, _splat(ty, _LO)), _splat(ty, _LO), x)
    k = floor_fn(b.fadd(b.fmul(x, _splat(ty, _LOG2E)), _splat(ty, 0.5)))
    r = b.fsub(b.fsub(x, b.fmul(k, _splat(ty, _C1))), b.fmul(k, _splat(ty, _C2)))
    y = _splat(ty, _POLY[0])
    for c in _POLY[1:]:
        y = b.fadd(b.fmul(y, r), _splat(ty, c), flags=("contract",))
    y = b.fadd(b.fadd(b.fmul(y, b.fmul(r, r)), r), _splat(ty, 1.0))
    bits = b.shl(b.add(b.fptosi(k, ity), _splat(ity, 127)), _splat(ity, 23))
    return b.fmul(y, b.bitcast(bits, ty))


_TANH_POLY = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
              -3.33332819422e-1)  # fmt: skip


def tanh_f32(b: ir.IRBuilder, x: ir.Value, floor_fn) -> ir.Value:
    """tanh on a `<n x float>` (Cephes `tanhf`): an odd polynomial for |x| < 0.625, else
    `sign(x) * (1 - 2 / (exp(2|x|) + 1))` with the inline exp."""
    ty = x.type
    zero, one = _splat(ty, 0.0), _splat(ty, 1.0)
    neg = b.fcmp_ordered("<", x, zero)
    ax = b.select(neg, b.fsub(zero, x), x)
    e = exp_f32(b, b.fadd(ax, ax), floor_fn)
    big = b.fsub(one, b.fdiv(_splat(ty, 2.0), b.fadd(e, one)))
    big = b.select(neg, b.fsub(zero, big), big)
    z = b.fmul(x, x)
    p = _splat(ty, _TANH_POLY[0])
    for c in _TANH_POLY[1:]:
        p = b.fadd(b.fmul(p, z), _splat(ty, c))
    small = b.fadd(b.fmul(b.fmul(p, z), x), x)
    return b.select(b.fcmp_ordered("<", ax, _splat(ty, 0.625)), small, big)
