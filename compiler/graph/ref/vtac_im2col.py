"""`vtac.im2col`: a convolution's input windows laid out as channels (int8 or any dtype).

- `vtac.im2col(x[N, C, H, W]) {kernel_shape, strides, pads}` -> [N, C·kh·kw, OH, OW] with
  `out[n, (c·kh + dy)·kw + dx, oy, ox] = x_padded[n, c, oy·sh + dy, ox·sw + dx]`, zero padding
  (`pads` = top, left, bottom, right). The channel order is the weight's [C, kh, kw] order, so
  `conv(x, W) == conv1x1(im2col(x), W.reshape(C_out, C·kh·kw))` exactly, in any arithmetic.

Why: a stem convolution with 3 input channels fills 3 of each 16-lane GEMM block; as a 1×1
convolution over 3·7·7 = 147 channels it fills 147 of 160 (`passes/stem_im2col.py`).
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KernelCtx, kernel
from compiler.graph.ref.vtac_pool import maxpool_out_size


@kernel("vtac.im2col")
def im2col(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    kh, kw = (int(v) for v in ctx.attr("kernel_shape"))
    sh, sw = (int(v) for v in ctx.attr("strides", (1, 1)))
    t, l, b, r = (int(v) for v in ctx.attr("pads", (0, 0, 0, 0)))  # noqa: E741
    if x.ndim != 4:
        raise ctx.error(f"needs a 4-D NCHW input, got shape {x.shape}")
    n, c, h, w = x.shape
    oh, ow = maxpool_out_size(h, kh, sh, t, b), maxpool_out_size(w, kw, sw, l, r)  # same windows
    if oh < 1 or ow < 1:
        raise ctx.error(f"the {kh}x{kw} window is larger than the padded input {(h, w)}")
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    out = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    for dy in range(kh):  # one strided copy per tap: the gather runs at memory speed
        for dx in range(kw):
            out[:, :, dy, dx] = xp[:, :, dy : dy + sh * (oh - 1) + 1 : sh,
                                   dx : dx + sw * (ow - 1) + 1 : sw]  # fmt: skip
    return out.reshape(n, c * kh * kw, oh, ow)
