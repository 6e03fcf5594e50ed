"""NumPy references for the CPU operator tests (float64 accumulation)."""

from __future__ import annotations

import numpy as np


def conv2d(x, w, bias=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """NCHW conv2d; pads = (top, left, bottom, right). int inputs accumulate in int64."""
    acc = np.int64 if np.issubdtype(x.dtype, np.integer) else np.float64
    x = x.astype(acc)
    w = w.astype(acc)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    (sh, sw), (dh, dw) = stride, dilation
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow), acc)
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        ws = w[g * og : (g + 1) * og]
        for ky in range(kh):
            for kx in range(kw):
                patch = xs[
                    :,
                    :,
                    ky * dh : ky * dh + sh * (oh - 1) + 1 : sh,
                    kx * dw : kx * dw + sw * (ow - 1) + 1 : sw,
                ]
                out[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, ky, kx])
    if bias is not None:
        out += bias.astype(acc).reshape(1, -1, 1, 1)
    return out


def pool2d(kind, x, kernel, stride, pads, count_include_pad=False):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    pt, pl, pb, pr = pads
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    ones = np.pad(np.ones((h, w)), ((pt, pb), (pl, pr)))
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                cnt = (
                    kh * kw
                    if count_include_pad
                    else ones[i * sh : i * sh + kh, j * sw : j * sw + kw].sum()
                )
                out[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return out
