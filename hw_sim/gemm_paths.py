"""GEMM data paths: the bulk arithmetic behind `hw_sim.functional.gemm`.

* `factored_plan` / `run_factored`: when one loop level is a pure reduction, the micro-ops that
  share a weight row form one dense matrix product (no redundant products, no scatter).
* `gemm_products` + `accumulate`: any loop; products of all micro-ops from one product table
  (or a batched matmul), summed per destination row with `bincount`.

Exactness: every product sum is held in float32 only while it stays below 2**24 (else float64),
sums are reduced modulo 2**32 and added with int32 wrap-around — equal to sequential
accumulation because modular addition is associative. `st` is a `functional.SramState`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hw_sim.isa import GemmInsn

if TYPE_CHECKING:
    from hw_sim.functional import SramState

# Use the product table when (src range * wgt range) <= this many times the micro-op count.
TABLE_FACTOR = 4


def exact_dtype(terms: int) -> type:
    """float32 if a sum of `terms` int8*int8 products is exact in it, else float64."""
    return np.float32 if terms * (1 << 14) <= 1 << 24 else np.float64


def gemm_products(st: SramState, src: np.ndarray, wgt: np.ndarray) -> np.ndarray:
    """(n, BATCH*BLOCK_OUT) products INP[src[k]] . WGT[wgt[k]]^T, exact integers in float32."""
    b, bi, bo = st.batch, st.block_in, st.block_out
    n = len(src)
    s0, s1 = int(src.min()), int(src.max())
    w0, w1 = int(wgt.min()), int(wgt.max())
    ns, nw = s1 - s0 + 1, w1 - w0 + 1
    if ns * nw <= TABLE_FACTOR * n:
        # One BLAS call over every (src, wgt) pair in range, then pick the pairs used.
        lhs = st.inp_f[s0 : s1 + 1].reshape(ns * b, bi)
        rhs = st.wgt_f[w0 : w1 + 1].reshape(nw * bo, bi)
        table = (lhs @ rhs.T).reshape(ns, b, nw, bo)
        if b == 1:
            return np.take(table.reshape(ns * nw, bo), (src - s0) * nw + (wgt - w0), axis=0)
        return table[src - s0, :, wgt - w0, :].reshape(n, b * bo)
    x = st.inp_f[src].reshape(n, b, bi)
    return np.matmul(x, st.wgt_f[wgt].transpose(0, 2, 1)).reshape(n, b * bo)


def add_rows(st: SramState, rows: np.ndarray | slice, values: np.ndarray) -> None:
    """ACC[rows] += values (distinct rows, int32 wrap-around); OUT[rows] = low 8 bits.

    `values` hold exact integers (float or int). They are reduced modulo 2**32 first (through
    int64 unless they are known to fit int32), then added with NumPy's wrapping int32 add.
    """
    if values.dtype == np.float32:  # |v| < 2**24: fits int32 directly
        delta = values.astype(np.int32)
    else:
        delta = values.astype(np.int64).astype(np.int32)
    acc = st.acc[rows]  # a view for a slice, a copy for an index array
    acc += delta.reshape(acc.shape)
    if not isinstance(rows, slice):
        st.acc[rows] = acc
    st.out[rows] = acc.astype(np.int8)


def accumulate(st: SramState, dst: np.ndarray, values: np.ndarray) -> None:
    """ACC[dst[k]] += values[k] for every k (rows may repeat); OUT of each touched row updated."""
    lanes = values.shape[1]
    d0 = int(dst.min())
    span = int(dst.max()) - d0 + 1
    rel = dst - d0
    # Per-lane sums in float64 (exact: far below 2**53), one C pass.
    idx = (rel[:, None] * lanes + np.arange(lanes)).reshape(-1)
    sums = np.bincount(idx, weights=values.reshape(-1), minlength=span * lanes)
    touched = np.flatnonzero(np.bincount(rel, minlength=span))
    add_rows(st, touched + d0, sums.reshape(span, lanes)[touched])


def _offsets(levels: list[tuple[int, int, int, int]], col: int) -> np.ndarray:
    """Flattened (row-major over `levels`) sums of iteration * factor for factor column `col`."""
    off = np.zeros(1, np.int64)
    for level in levels:
        off = (off[:, None] + np.arange(level[0], dtype=np.int64) * level[col]).reshape(-1)
    return off


def factored_plan(st: SramState, insn: GemmInsn, uops: np.ndarray) -> tuple | None:
    """Plan a GEMM as a few dense matrix products.

    Split the two loop levels into reduction levels (dst factor 0; iteration r over their joint
    range) and parallel levels (iteration p). If no parallel level moves src, then for the
    micro-ops u that share one wgt index w_u:
        ACC[dst_u + dOff(p)] += sum_r INP[src_u + sOff(r)] . WGT[w_u + wOff(r) + wOff(p)]^T
    i.e. X (U x R*BLOCK_IN) @ Wm (R*BLOCK_IN x P*BLOCK_OUT) per group of micro-ops with the same
    wgt index: no redundant products. This covers VTA's "uop compression" (one reduction level,
    one parallel) and conv kernels (both levels walk the kernel window, micro-ops enumerate
    output pixels x output-channel blocks). Groups run one after the other (their sums commute
    modulo 2**32); within a group the destinations (u, p) must be distinct. Returns None when
    the loop does not have this shape or has too many groups to pay off.
    """
    if len(uops) == 0:
        return None
    levels = [
        (insn.iter_out, insn.dst_factor_out, insn.src_factor_out, insn.wgt_factor_out),
        (insn.iter_in, insn.dst_factor_in, insn.src_factor_in, insn.wgt_factor_in),
    ]
    levels = [lv for lv in levels if lv[0] > 1]  # a single iteration adds no offset
    red = [lv for lv in levels if lv[1] == 0]
    par = [lv for lv in levels if lv[1] != 0]
    if any(lv[2] != 0 for lv in par):
        return None
    wvals, winv = np.unique(uops[:, 2], return_inverse=True)
    if len(wvals) > max(4, len(uops) // 4):
        return None
    r_src, r_wgt = _offsets(red, 2), _offsets(red, 3)
    p_dst, p_wgt = _offsets(par, 1), _offsets(par, 3)
    nr, npar = len(r_src), len(p_dst)
    parts = [uops] if len(wvals) == 1 else [uops[winv.reshape(-1) == g] for g in range(len(wvals))]
    srcs = [gu[:, 1] for gu in parts]
    if len(parts) > 1 and all(np.array_equal(srcs[0], sv) for sv in srcs[1:]):
        # Every group reads the same INP rows (e.g. output-channel blocks of one conv tile):
        # one product with the groups' weight matrices side by side, columns (g, p).
        dst = np.stack([gu[:, 0][:, None] + p_dst for gu in parts], axis=1).reshape(-1)
        widx = np.stack([w + r_wgt[:, None] + p_wgt for w in wvals.tolist()], axis=1)
        if _distinct(dst):
            spec = _src_spec(srcs[0], r_src, red)
            return ("factored", [(as_slice(dst), spec, widx.reshape(-1), len(parts[0]), nr,
                                  len(parts) * npar)], exact_dtype(nr * st.block_in))  # fmt: skip
    groups = []
    for gu, w in zip(parts, wvals.tolist(), strict=True):
        dst = (gu[:, 0][:, None] + p_dst).reshape(-1)  # (u, p) order
        if not _distinct(dst):
            return None
        widx = (w + r_wgt[:, None] + p_wgt).reshape(-1)  # (r, p) order
        groups.append((as_slice(dst), _src_spec(gu[:, 1], r_src, red), widx, len(gu), nr, npar))
    return ("factored", groups, exact_dtype(nr * st.block_in))


def _distinct(idx: np.ndarray) -> bool:
    s = np.sort(idx)
    return not (s[1:] == s[:-1]).any()


def _src_spec(src_u: np.ndarray, r_src: np.ndarray, red: list) -> tuple | np.ndarray | slice:
    """How to fetch the INP rows X[u, r] = INP[src_u + r_src[r]].

    A strided view ("view", first row, shape, row strides) when the micro-ops' rows form an
    arithmetic progression (then X is a regular window of the buffer: a copy, not a gather);
    otherwise the (u, r) row indices (or a slice).
    """
    rows = as_slice((src_u[:, None] + r_src).reshape(-1))
    if type(rows) is slice:  # consecutive rows: a plain slice is the cheapest view
        return rows
    step = int(src_u[1] - src_u[0]) if len(src_u) > 1 else 0
    if step >= 0 and (len(src_u) < 3 or (np.diff(src_u) == step).all()):
        shape = (len(src_u),) + tuple(lv[0] for lv in red)
        strides = (step,) + tuple(lv[2] for lv in red)
        return ("view", int(src_u[0]), shape, strides)
    return rows


def _src_rows(st: SramState, spec) -> np.ndarray:
    if type(spec) is not tuple:
        return st.inp_f[spec]
    _, first, shape, strides = spec
    base = st.inp_f
    rb = base.strides[0]
    return np.ndarray(
        shape + base.shape[1:],
        dtype=base.dtype,
        buffer=base,
        offset=first * rb,
        strides=tuple(s_ * rb for s_ in strides) + base.strides[1:],
    )


def as_slice(idx: np.ndarray) -> np.ndarray | slice:
    """A slice when `idx` is an increasing run of consecutive rows (views instead of gathers)."""
    if len(idx) and int(idx[-1]) - int(idx[0]) == len(idx) - 1 and (np.diff(idx) == 1).all():
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def run_factored(st: SramState, plan: tuple) -> None:
    _, groups, dtype = plan
    b, bi, bo = st.batch, st.block_in, st.block_out
    for dst, src, widx, nu, nr, npar in groups:
        x = _src_rows(st, src)
        if b == 1:
            lhs = x.reshape(nu, nr * bi)
        else:
            lhs = x.reshape(nu, nr, b, bi).transpose(0, 2, 1, 3).reshape(nu * b, nr * bi)
        rhs = st.wgt_f[widx].reshape(nr, npar, bo, bi).transpose(0, 3, 1, 2).reshape(nr * bi, -1)
        if dtype is not np.float32:
            lhs, rhs = lhs.astype(dtype), rhs.astype(dtype)
        res = lhs @ rhs  # (U*BATCH, P*BLOCK_OUT)
        if b != 1:
            res = res.reshape(nu, b, npar, bo).transpose(0, 2, 1, 3)
        add_rows(st, dst, res.reshape(nu * npar, b * bo))
