"""conv2d, grouped conv2d and dense in VTA's packed layouts, plus padding and element-wise ops.

Layouts (b = batch block, i/o = input/output channel block; see docs/te.md):
    data    (N/b, C/i, H, W, b, i)            "NCHW{b}n{i}c"
    kernel  (O/o, C/i, KH, KW, o, i)          "OIHW{o}o{i}i"
    output  (N/b, O/o, OH, OW, b, o)
    dense   data (N/b, K/i, b, i), weight (M/o, K/i, o, i), output (N/b, M/o, b, o)
    grouped conv2d: kernel (G, Og/o, Cg/i, KH, KW, o, i); output (N/b, G, Og/o, OH, OW, b, o),
        which has the same memory layout as (N/b, O/o, OH, OW, b, o).
Products are formed in int32 (`cast`), so int8 operands accumulate exactly.
"""

from __future__ import annotations

from compiler.te.tensor import IterVar, Tensor, cast, compute, reduce_axis, sum_reduce
from compiler.tir.nodes import BinOp, Const, Select, max_expr, min_expr


def _in_range(idx, lo: int, hi: int):
    return BinOp("and", BinOp("ge", idx, Const(lo)), BinOp("lt", idx, Const(hi)))


def pad_hw(data: Tensor, pad_h: int, pad_w: int, name: str = "pad") -> Tensor:
    """Zero-pad dims 2 and 3 (H, W) of a packed tensor by `pad` on each side."""
    if pad_h == 0 and pad_w == 0:
        return data
    n, c, h, w = data.shape[:4]
    rest = data.shape[4:]

    def f(*i):
        cond = BinOp("and", _in_range(i[2], pad_h, h + pad_h), _in_range(i[3], pad_w, w + pad_w))
        src = data[(i[0], i[1], i[2] - pad_h, i[3] - pad_w, *i[4:])]
        return Select(cond, src, Const(0, data.dtype))

    return compute((n, c, h + 2 * pad_h, w + 2 * pad_w, *rest), f, name=name, tag="pad")


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of a stride or kernel given as one int (square) or a pair."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _conv_window(
    data: Tensor,
    kh: int,
    kw: int,
    in_blocks: int,
    stride: tuple[int, int],
    padding: int,
    name: str,
) -> tuple[Tensor, int, int, tuple[IterVar, IterVar, IterVar, IterVar]]:
    """Padded input, output height and width, and the reduction axes (input-channel blocks,
    kernel rows, kernel columns, lanes of a block) of a packed convolution over `data`."""
    _, _, h, w, _, bi = data.shape
    sh, sw = stride
    src = pad_hw(data, padding, padding, name=f"{name}.pad")
    oh = (h + 2 * padding - kh) // sh + 1
    ow = (w + 2 * padding - kw) // sw + 1
    axes = (
        reduce_axis(in_blocks, "ic"),
        reduce_axis(kh, "ky"),
        reduce_axis(kw, "kx"),
        reduce_axis(bi, "ici"),
    )
    return src, oh, ow, axes


def conv2d_packed(
    data: Tensor,
    kernel: Tensor,
    stride: int | tuple[int, int],
    padding: int,
    name: str = "conv",
) -> Tensor:
    """int32 conv2d of packed int8 data and kernel (dilation 1; stride: one int or (rows,
    columns))."""
    nb, cb, _, _, bb, bi = data.shape
    ob, cb2, kh, kw, bo, bi2 = kernel.shape
    if (cb, bi) != (cb2, bi2):
        raise ValueError(f"{name}: data has {cb}x{bi} input channels, kernel {cb2}x{bi2}")
    sh, sw = pair(stride)
    src, oh, ow, (ic, ry, rx, ii) = _conv_window(data, kh, kw, cb, (sh, sw), padding, name)
    return compute(
        (nb, ob, oh, ow, bb, bo),
        lambda b, co, y, x, bt, ct: sum_reduce(
            cast("int32", src[b, ic, y * sh + ry, x * sw + rx, bt, ii])
            * cast("int32", kernel[co, ic, ry, rx, ct, ii]),
            (ic, ry, rx, ii),
        ),
        name=name,
        tag="conv2d",
    )


def group_conv2d_packed(
    data: Tensor,
    kernel: Tensor,
    stride: int | tuple[int, int],
    padding: int,
    name: str = "gconv",
) -> Tensor:
    """Grouped conv2d; kernel (G, Og/o, Cg/i, KH, KW, o, i), output (N/b, G, Og/o, OH, OW, b, o)."""
    nb, cb, _, _, bb, bi = data.shape
    g, ogb, cgb, kh, kw, bo, bi2 = kernel.shape
    if cgb * g != cb or bi2 != bi:
        raise ValueError(f"{name}: {g} groups of {cgb} input blocks do not cover {cb} blocks")
    sh, sw = pair(stride)
    src, oh, ow, (ic, ry, rx, ii) = _conv_window(data, kh, kw, cgb, (sh, sw), padding, name)
    return compute(
        (nb, g, ogb, oh, ow, bb, bo),
        lambda b, gg, co, y, x, bt, ct: sum_reduce(
            cast("int32", src[b, gg * cgb + ic, y * sh + ry, x * sw + rx, bt, ii])
            * cast("int32", kernel[gg, co, ic, ry, rx, ct, ii]),
            (ic, ry, rx, ii),
        ),
        name=name,
        tag="conv2d",
    )


def dense_packed(data: Tensor, weight: Tensor, name: str = "dense") -> Tensor:
    """int32 dense: out[n, m] = sum_k data[n, k] * weight[m, k], packed."""
    nb, kb, bb, bi = data.shape
    mb, kb2, bo, bi2 = weight.shape
    if (kb, bi) != (kb2, bi2):
        raise ValueError(f"{name}: data has {kb}x{bi} features, weight {kb2}x{bi2}")
    k = reduce_axis(kb, "k")
    ki = reduce_axis(bi, "ki")
    return compute(
        (nb, mb, bb, bo),
        lambda b, m, bt, mt: sum_reduce(
            cast("int32", data[b, k, bt, ki]) * cast("int32", weight[m, k, mt, ki]), (k, ki)
        ),
        name=name,
        tag="dense",
    )


# ----- element-wise (one accelerator ALU operation each) --------------------------------------


def shift_right(x: Tensor, n: int, name: str = "shr") -> Tensor:
    return compute(x.shape, lambda *i: BinOp("shr", x[i], Const(n, x.dtype)), name=name)


def shift_left(x: Tensor, n: int, name: str = "shl") -> Tensor:
    return compute(x.shape, lambda *i: BinOp("shl", x[i], Const(n, x.dtype)), name=name)


def add_imm(x: Tensor, c: int, name: str = "addi") -> Tensor:
    return compute(x.shape, lambda *i: x[i] + Const(c, x.dtype), name=name)


def add(x: Tensor, y: Tensor, name: str = "add") -> Tensor:
    """x + y (same shape); y is converted to x's type (an int8 residual into int32)."""
    if x.shape != y.shape:
        raise ValueError(f"{name}: shapes {x.shape} and {y.shape} differ")
    return compute(x.shape, lambda *i: x[i] + cast(x.dtype, y[i]), name=name)


def maximum_tensor(x: Tensor, y: Tensor, name: str = "maxt") -> Tensor:
    """max(x, y) (same shape), y converted to x's type: a tensor-operand ALU MAX."""
    if x.shape != y.shape:
        raise ValueError(f"{name}: shapes {x.shape} and {y.shape} differ")
    return compute(x.shape, lambda *i: max_expr(x[i], cast(x.dtype, y[i])), name=name)


def add_channel_bias(x: Tensor, bias: Tensor, channel_dims: int = 1, name: str = "bias") -> Tensor:
    """x + bias broadcast over everything but the channel block(s) and the element dims.

    `bias` is (channel blocks..., b, o) int32; x's channel block axes are dims 1..channel_dims.
    """

    def f(*i):
        chans = i[1 : 1 + channel_dims]
        return x[i] + bias[(*chans, i[-2], i[-1])]

    return compute(x.shape, f, name=name)


def shift_right_channel(
    x: Tensor, shifts: Tensor, channel_dims: int = 1, name: str = "shr_chan"
) -> Tensor:
    """x >> shifts[channel]: an arithmetic right shift by a per-channel amount, laid out like
    `add_channel_bias`'s bias (one tensor-operand ALU SHR per row on the accelerator)."""

    def f(*i):
        chans = i[1 : 1 + channel_dims]
        return BinOp("shr", x[i], shifts[(*chans, i[-2], i[-1])])

    return compute(x.shape, f, name=name)


def multiply_channel(
    x: Tensor, mult: Tensor, channel_dims: int = 1, name: str = "mul_chan"
) -> Tensor:
    """x * mult[channel] (int32, wrapping), laid out like `add_channel_bias`'s bias: one
    tensor-operand ALU MUL per row (only on configs whose ALU has MUL)."""

    def f(*i):
        chans = i[1 : 1 + channel_dims]
        return BinOp("mul", x[i], mult[(*chans, i[-2], i[-1])])

    return compute(x.shape, f, name=name)


def add_channel_bias_gemm(
    x: Tensor, bias_in: Tensor, bias_w: Tensor, channel_dims: int = 1, name: str = "bias"
) -> Tensor:
    """x + bias as an int8 matrix product: x[i] + sum_k bias_in[b, k] * bias_w[chans, o, k].

    With `bias_in` a constant row and `bias_w` the bias's digits (`layout.bias_digits`) the sum
    is exactly the bias; on the accelerator it is one GEMM micro-op per output row.
    """
    k = reduce_axis(bias_in.shape[-1], "bk")

    def f(*i):
        chans = i[1 : 1 + channel_dims]
        return sum_reduce(
            cast("int32", bias_in[i[-2], k]) * cast("int32", bias_w[(*chans, i[-1], k)]),
            k,
            init=x[i],
        )

    return compute(x.shape, f, name=name)


def maximum(x: Tensor, v: int, name: str = "max") -> Tensor:
    return compute(x.shape, lambda *i: max_expr(x[i], Const(v, x.dtype)), name=name)


def minimum(x: Tensor, v: int, name: str = "min") -> Tensor:
    return compute(x.shape, lambda *i: min_expr(x[i], Const(v, x.dtype)), name=name)


def relu(x: Tensor, name: str = "relu") -> Tensor:
    return maximum(x, 0, name=name)


def clip(x: Tensor, lo: int, hi: int, name: str = "clip") -> tuple[Tensor, Tensor]:
    """(max stage, min stage): clip as two element-wise ops (the ALU has MIN and MAX)."""
    a = maximum(x, lo, name=f"{name}.max")
    return a, minimum(a, hi, name=f"{name}.min")


def cast_to(x: Tensor, dtype: str, name: str = "cast") -> Tensor:
    return compute(x.shape, lambda *i: cast(dtype, x[i]), name=name)
