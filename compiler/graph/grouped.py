"""Grouped convolutions whose channels per group are not whole blocks, on the GEMM unit.

The accelerator's grouped conv (`compiler/vta/ops.py::conv2d_op`) needs the in- and
out-channels of every group to be multiples of BLOCK. A conv with G groups of cin/G in and
cout/G out channels that are not (ShuffleNet: 4 groups of 6 -> 28, 34 -> 34, 68 -> 68) is the
same conv with fewer, larger groups whose weights are block-diagonal:

    merge m = G / G' neighbouring groups into one; in merged group M, original group
    k = M*m + j reads merged input channels j*cin/G ... (j+1)*cin/G - 1, the rest are zeros

with G' the largest divisor of G that makes cin/G' and cout/G' multiples of BLOCK (1: dense).
The zeros cost MACs (G/G' times the grouped conv's, reported as padding) but contribute
exactly 0 to the int32 accumulators, and they do not move a per-channel weight exponent (the
largest |w| of each output row is unchanged), so the int8 result is the grouped conv's.
Depthwise convs are not expanded here: their diagonal blocks (`depthwise.py`) waste less.
"""

from __future__ import annotations

import numpy as np


def merged_groups(cin: int, cout: int, group: int, block: int) -> int:
    """The largest G' dividing `group` with cin/G' and cout/G' multiples of `block`, else 1."""
    for g2 in range(group, 1, -1):
        if group % g2 == 0 and (cin // g2) % block == 0 and (cout // g2) % block == 0:
            return g2
    return 1


def needs_expansion(group: int, cin: int, cout: int, block: int) -> bool:
    """True for a grouped, non-depthwise conv whose channels per group are not whole blocks."""
    if group <= 1 or (cin == group and cout == group):
        return False
    return (cin // group) % block != 0 or (cout // group) % block != 0


def expand_group_weights(w: np.ndarray, group: int, new_group: int) -> np.ndarray:
    """(cout, cin/group, KH, KW) grouped weights -> (cout, cin/new_group, KH, KW) of the same
    conv with `new_group` groups (block-diagonal, zeros elsewhere). `new_group` divides `group`."""
    cout, cin_g = w.shape[:2]
    if group % new_group or cout % group:
        raise ValueError(
            f"cannot merge {group} groups of {w.shape} weights into {new_group} groups"
        )
    m = group // new_group
    cout_g = cout // group
    out = np.zeros((cout, cin_g * m, *w.shape[2:]), dtype=w.dtype)
    for k in range(group):
        j = k % m
        rows = slice(k * cout_g, (k + 1) * cout_g)
        out[rows, j * cin_g : (j + 1) * cin_g] = w[rows]
    return out
