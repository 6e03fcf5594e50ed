"""NumPy packing between plain layouts (NCHW, OIHW, NK) and the blocked layouts of nn.py.

Channel counts that are not a multiple of the block are zero-padded (e.g. ResNet's first conv
with 3 input channels), which leaves results unchanged.
"""

from __future__ import annotations

import numpy as np


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def pad_axis(x: np.ndarray, axis: int, multiple: int) -> np.ndarray:
    n = x.shape[axis]
    extra = _ceil(n, multiple) * multiple - n
    if extra == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, extra)
    return np.pad(x, widths)


def pack_nchw(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """(N, C, H, W) -> (N/b, C/i, H, W, b, i)."""
    x = pad_axis(pad_axis(x, 0, batch), 1, block)
    n, c, h, w = x.shape
    return np.ascontiguousarray(
        x.reshape(n // batch, batch, c // block, block, h, w).transpose(0, 2, 4, 5, 1, 3)
    )


def unpack_nchw(x: np.ndarray, n: int, c: int) -> np.ndarray:
    """(N/b, C/i, H, W, b, i) -> (N, C, H, W), dropping padding."""
    nb, cb, h, w, b, i = x.shape
    return x.transpose(0, 4, 1, 5, 2, 3).reshape(nb * b, cb * i, h, w)[:n, :c]


def pack_oihw(k: np.ndarray, block_out: int, block_in: int) -> np.ndarray:
    """(O, I, KH, KW) -> (O/o, I/i, KH, KW, o, i)."""
    k = pad_axis(pad_axis(k, 0, block_out), 1, block_in)
    o, i, kh, kw = k.shape
    return np.ascontiguousarray(
        k.reshape(o // block_out, block_out, i // block_in, block_in, kh, kw).transpose(
            0, 2, 4, 5, 1, 3
        )
    )


def pack_group_oihw(k: np.ndarray, groups: int, block_out: int, block_in: int) -> np.ndarray:
    """(O, I/G, KH, KW) -> (G, Og/o, Ig/i, KH, KW, o, i)."""
    o = k.shape[0]
    per = o // groups
    packed = [pack_oihw(k[g * per : (g + 1) * per], block_out, block_in) for g in range(groups)]
    return np.ascontiguousarray(np.stack(packed))


def pack_bias(bias: np.ndarray, batch: int, block_out: int) -> np.ndarray:
    """(O,) int32 -> (O/o, b, o), replicated over the batch lanes."""
    bias = pad_axis(bias, 0, block_out)
    o = bias.shape[0]
    return np.ascontiguousarray(
        np.broadcast_to(
            bias.reshape(o // block_out, 1, block_out), (o // block_out, batch, block_out)
        )
    )


def gemm_bias_range(block_in: int) -> tuple[int, int]:
    """(lowest, highest) bias `bias_digits` represents exactly with `block_in` input lanes;
    outside it use the ALU bias (`bias_on="alu"`)."""
    lanes = block_in - 1
    return -128 * 127 * lanes, 127 * 127 * lanes + 126


def bias_digits(
    bias: np.ndarray, batch: int, block_out: int, block_in: int, what: str = "bias"
) -> tuple[np.ndarray, np.ndarray]:
    """(row, digits) with sum_k row[b, k] * digits[o, k] == bias[o] exactly, all int8.

    row = [127] * L + [1] + [0...] for every batch lane; digits[o] spreads floor(bias/127) over
    the L lanes and puts the remainder (0..126) in lane L. Shapes: row (b, i), digits
    (O/o, o, i). L = block_in - 1, so |bias| may reach about 127 * 127 * (block_in - 1).
    """
    lanes = block_in - 1
    if lanes < 1:
        raise ValueError(f"{what}: a GEMM bias needs a block of at least 2 input lanes")
    b = pad_axis(np.asarray(bias, np.int64), 0, block_out)
    q, r = np.divmod(b, 127)
    per = np.zeros((b.size, block_in), np.int64)
    base, extra = np.divmod(q, lanes)
    for k in range(lanes):
        per[:, k] = base + (k < extra)
    per[:, lanes] = r
    if per.min() < -128 or per.max() > 127:
        lo, hi = gemm_bias_range(block_in)
        raise ValueError(
            f"{what}: values from {int(b.min())} to {int(b.max())} do not fit a GEMM bias of "
            f"{lanes} lanes ({lo}..{hi}); use the ALU bias"
        )
    row = np.zeros((batch, block_in), np.int8)
    row[:, :lanes] = 127
    row[:, lanes] = 1
    digits = per.reshape(b.size // block_out, block_out, block_in).astype(np.int8)
    return row, np.ascontiguousarray(digits)


def pack_nk(x: np.ndarray, batch: int, block: int) -> np.ndarray:
    """(N, K) -> (N/b, K/i, b, i)."""
    x = pad_axis(pad_axis(x, 0, batch), 1, block)
    n, k = x.shape
    return np.ascontiguousarray(
        x.reshape(n // batch, batch, k // block, block).transpose(0, 2, 1, 3)
    )


def unpack_nk(x: np.ndarray, n: int, k: int) -> np.ndarray:
    nb, kb, b, i = x.shape
    return x.transpose(0, 2, 1, 3).reshape(nb * b, kb * i)[:n, :k]
