"""conv2d for the CPU in the blocked NCHWc layout, as a knob-parameterized loop-IR generator.

Layouts (`b` = the block size of that axis):
    data    [N, C/ic_bn, H + 2*pad_h, W + 2*pad_w, ic_bn]   (already padded; see layout.py)
    weight  [O/oc_bn, C/ic_bn, KH, KW, ic_bn, oc_bn]
    bias    [O/oc_bn, oc_bn]                                 (optional)
    out     [N, O/oc_bn, OH, OW, oc_bn]

The schedule is the register-blocked direct convolution of TVM's x86 `conv2d_NCHWc`: a
parallel loop over (n, output-channel block, pixel tile), where the output pixels are tiled
row-major across row ends in tiles of `ow_tile`; a tile of `ow_tile` pixels x `oc_bn` output
channels is accumulated in registers (a local buffer whose every access has a constant offset
after unrolling) across the whole reduction over input-channel blocks, kernel rows and
columns and the input channels in a block; each step broadcasts one input scalar per pixel
and multiplies it (FMA) by one weight vector of `oc_bn` lanes.
Groups: `groups` divides C and O and each group's channels are whole blocks (depthwise
convolution has its own kernel, depthwise.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Cast,
    Const,
    For,
    ForKind,
    IfThenElse,
    PrimFunc,
    Store,
    Var,
    seq,
)

F32 = "float32"


@dataclass(frozen=True)
class Conv2dShape:
    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)  # symmetric (top = bottom, left = right)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def out_hw(self) -> tuple[int, int]:
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.pad, self.dilation
        oh = (self.h + 2 * ph - dh * (self.kh - 1) - 1) // sh + 1
        ow = (self.w + 2 * pw - dw * (self.kw - 1) - 1) // sw + 1
        return oh, ow

    @property
    def flops(self) -> int:
        oh, ow = self.out_hw
        return 2 * self.n * self.o * oh * ow * (self.c // self.groups) * self.kh * self.kw


@dataclass(frozen=True)
class Conv2dKnobs:
    """The schedule's free parameters (the tuner searches these)."""

    ic_bn: int  # input channels per block (the innermost data axis)
    oc_bn: int  # output channels per block = vector lanes of one accumulator row
    ow_tile: int  # output pixels per register tile (row-major over OH x OW)
    unroll_kw: bool = False  # unroll the kernel-column loop inside the tile


def default_knobs(shape: Conv2dShape, lanes: int, registers: int = 16) -> Conv2dKnobs:
    """A good untuned schedule: two vector registers of output channels per pixel and as many
    pixels as keep the accumulators, one weight row and a broadcast within `registers`."""
    cg, og = shape.c // shape.groups, shape.o // shape.groups
    oc_bn = _largest_divisor(og, 2 * lanes)
    ic_bn = _largest_divisor(cg, 2 * lanes) if cg % lanes == 0 else cg
    regs_per_pixel = max(1, oc_bn // lanes)
    # accumulators + one weight row + one broadcast register <= 16 vector registers
    budget = max(1, (registers - regs_per_pixel - 1) // regs_per_pixel)
    return Conv2dKnobs(ic_bn=ic_bn, oc_bn=oc_bn, ow_tile=budget)


def knob_space(shape: Conv2dShape, lanes: int, registers: int = 16) -> list[Conv2dKnobs]:
    """Every schedule the tuner may try: channel blocks that divide the channels per group
    (multiples of the vector width when possible), register tiles that fit `registers`."""
    cg, og = shape.c // shape.groups, shape.o // shape.groups
    ic_opts = [d for d in (lanes // 2, lanes, 2 * lanes, 4 * lanes) if d and cg % d == 0] or [cg]
    oc_opts = [d for d in (lanes, 2 * lanes, 4 * lanes) if og % d == 0] or [og]
    space = []
    for oc_bn in oc_opts:
        regs = -(-oc_bn // lanes)
        for tile in range(1, max(2, (registers - regs - 1) // regs + 1)):
            for ic_bn in ic_opts:
                for unroll_kw in (False, True):
                    space.append(Conv2dKnobs(ic_bn, oc_bn, tile, unroll_kw))
    return space


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def check_knobs(shape: Conv2dShape, k: Conv2dKnobs) -> None:
    cg, og = shape.c // shape.groups, shape.o // shape.groups
    if shape.c % shape.groups or shape.o % shape.groups:
        raise ValueError(f"conv2d: groups={shape.groups} must divide C={shape.c} and O={shape.o}")
    if cg % k.ic_bn or og % k.oc_bn:
        raise ValueError(
            f"conv2d: ic_bn={k.ic_bn} must divide the {cg} input channels per group and "
            f"oc_bn={k.oc_bn} the {og} output channels per group"
        )


def conv2d_nchwc(
    shape: Conv2dShape,
    knobs: Conv2dKnobs,
    bias: bool = False,
    relu: bool = False,
    name: str = "conv2d_nchwc",
    in_pad: tuple[int, int] | None = None,
    out_pad: int = 0,
    residual: bool = False,
    dtype: str = F32,
) -> PrimFunc:
    """The PrimFunc `name(data, weight, [bias,] [residual,] out)` in the layouts above.

    `dtype` float32, or int8 for quantized graphs: int8 data and weights, int32 accumulation,
    bias, residual and output (bit-exact).

    For chains of layers kept in NCHWc: `in_pad` is the zero border the data buffer actually
    has (>= the convolution's own padding; default: exactly that), `out_pad` a zero border
    the output buffer has for its consumer (the kernel writes only the interior; the caller
    zeroes the border once), and `residual` adds a tensor shaped like `out` before the ReLU.
    """
    check_knobs(shape, knobs)
    if dtype not in (F32, "int8"):
        raise ValueError(f"{name}: dtype {dtype} not supported on the CPU (float32, int8)")
    acc_t = F32 if dtype == F32 else "int32"
    zero = Const(0.0 if acc_t == F32 else 0, acc_t)
    s, k = shape, knobs
    oh_n, ow_n = s.out_hw
    (sh, sw), (dh, dw) = s.stride, s.dilation
    in_pad = in_pad or s.pad
    if in_pad[0] < s.pad[0] or in_pad[1] < s.pad[1]:
        raise ValueError(f"{name}: in_pad {in_pad} is smaller than the padding {s.pad}")
    off_y, off_x = in_pad[0] - s.pad[0], in_pad[1] - s.pad[1]
    hp, wp = s.h + 2 * in_pad[0], s.w + 2 * in_pad[1]
    icc_n, occ_n = s.c // k.ic_bn, s.o // k.oc_bn
    icc_per_group = icc_n // s.groups
    occ_per_group = occ_n // s.groups
    data = Buffer("data", (s.n, icc_n, hp, wp, k.ic_bn), dtype)
    weight = Buffer("weight", (occ_n, icc_per_group, s.kh, s.kw, k.ic_bn, k.oc_bn), dtype)
    bias_buf = Buffer("bias", (occ_n, k.oc_bn), acc_t) if bias else None
    op = out_pad
    out = Buffer("out", (s.n, occ_n, oh_n + 2 * op, ow_n + 2 * op, k.oc_bn), acc_t)
    res_buf = Buffer("residual", out.shape, acc_t) if residual else None

    def widen(e):
        return e if dtype == acc_t else Cast(acc_t, e)

    # Output pixels of one (n, channel block) are tiled in row-major order across row ends, so
    # small images (7x7, 14x14) do not leave a narrow tail tile on every row.
    pixels = oh_n * ow_n
    tile_n = min(k.ow_tile, pixels)
    full, rest = divmod(pixels, tile_n)
    tiles = full + (1 if rest else 0)
    p = Var("p")
    n = p // (occ_n * tiles)
    occ = p // tiles % occ_n
    t = p % tiles
    icc_base = occ // occ_per_group * icc_per_group if s.groups > 1 else Const(0)

    def tile(q0, width: int):
        """Accumulate and store output pixels [q0, q0 + width) (row-major over OH x OW)."""
        acc = Buffer("acc", (width, k.oc_bn), acc_t, scope="local")
        w, l = Var("w"), Var("l")  # noqa: E741 - l is the lane index
        init = _nest(
            [(w, width, ForKind.UNROLLED), (l, k.oc_bn, ForKind.VECTORIZED)],
            Store(acc, (w, l), zero),
        )
        icc, ky, kx, ic = Var("icc"), Var("ky"), Var("kx"), Var("ic")
        w2, l2 = Var("w"), Var("l")
        q = q0 + w2
        oy, ox = q // ow_n, q % ow_n
        update = Store(
            acc,
            (w2, l2),
            acc[w2, l2]
            + widen(
                data[n, icc_base + icc, oy * sh + ky * dh + off_y, ox * sw + kx * dw + off_x, ic]
            )
            * widen(weight[occ, icc, ky, kx, ic, l2]),
        )
        reduce = _nest(
            [
                (icc, icc_per_group, ForKind.SERIAL),
                (ky, s.kh, ForKind.SERIAL),
                (kx, s.kw, ForKind.UNROLLED if k.unroll_kw else ForKind.SERIAL),
                (ic, k.ic_bn, ForKind.SERIAL),
                (w2, width, ForKind.UNROLLED),
                (l2, k.oc_bn, ForKind.VECTORIZED),
            ],
            update,
        )
        w3, l3 = Var("w"), Var("l")
        val = acc[w3, l3]
        q3 = q0 + w3
        dst = (n, occ, q3 // ow_n + op, q3 % ow_n + op, l3)
        if bias_buf is not None:
            val = val + bias_buf[occ, l3]
        if res_buf is not None:
            val = val + res_buf[dst]
        if relu:
            val = BinOp("max", val, zero)
        store = _nest(
            [(w3, width, ForKind.UNROLLED), (l3, k.oc_bn, ForKind.VECTORIZED)],
            Store(out, dst, val),
        )
        return Allocate(acc, seq(init, reduce, store))

    body = tile(t * tile_n, tile_n)
    if rest:
        body = IfThenElse(BinOp("lt", t, Const(full)), body, tile(Const(full * tile_n), rest))
    loop = For(p, Const(0), Const(s.n * occ_n * tiles), ForKind.PARALLEL, body)
    extras = tuple(b for b in (bias_buf, res_buf) if b is not None)
    return PrimFunc(name, (data, weight) + extras + (out,), loop)


def _nest(loops, body):
    for var, extent, kind in reversed(loops):
        body = For(var, Const(0), Const(extent), kind, body)
    return body
