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


def accumulate(st: SramState, dst: np.ndarray, values: np.ndarray, times: int = 1) -> None:
    """ACC[dst[k]] += times * values[k] for every k (rows may repeat); OUT of each touched row
    updated. `times` > 1 is a loop level repeating the same micro-ops: the exact per-row sums
    are reduced modulo 2**32 before the multiplication, so nothing overflows int64."""
    lanes = values.shape[1]
    d0 = int(dst.min())
    span = int(dst.max()) - d0 + 1
    rel = dst - d0
    # Per-lane sums in float64 (exact: far below 2**53), one C pass.
    idx = (rel[:, None] * lanes + np.arange(lanes)).reshape(-1)
    sums = np.bincount(idx, weights=values.reshape(-1), minlength=span * lanes)
    touched = np.flatnonzero(np.bincount(rel, minlength=span))
    sums = sums.reshape(span, lanes)[touched]
    if times != 1:
        sums = (sums.astype(np.int64) & 0xFFFFFFFF) * times  # < 2**32 * 2**28
    add_rows(st, touched + d0, sums)


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
    # Weight groups that read the same INP rows (e.g. the output-channel blocks of one conv
    # tile) share one product, their weight matrices side by side: columns (group, p).
    classes: list[list[int]] = []
    for g, gu in enumerate(parts):
        for cls in classes:
            if np.array_equal(parts[cls[0]][:, 1], gu[:, 1]):
                cls.append(g)
                break
        else:
            classes.append([g])
    groups = []
    for cls in classes:
        dst = np.stack([parts[g][:, 0][:, None] + p_dst for g in cls], axis=1).reshape(-1)
        if not _distinct(dst):
            if len(cls) == 1:
                return None
            return _per_group_plan(st, parts, wvals, r_src, r_wgt, p_dst, p_wgt, red)
        widx = np.stack([int(wvals[g]) + r_wgt[:, None] + p_wgt for g in cls], axis=1)
        widx = widx.reshape(len(r_wgt), -1)  # (r, (group, p))
        spec = _src_spec(parts[cls[0]][:, 1], r_src, red)
        groups.append((dst, [spec], widx, len(parts[cls[0]]), nr, len(cls) * npar))
    groups = _merge_same_destinations(groups)
    k = max(g[4] for g in groups)
    return ("factored", [(as_slice(g[0]), g[1], g[2].reshape(-1)) + g[3:] for g in groups],
            exact_dtype(k * st.block_in))  # fmt: skip


def _merge_same_destinations(groups: list[tuple]) -> list[tuple]:
    """Groups writing exactly the same rows in the same order (e.g. the input-channel blocks of a
    conv tile) become one product whose reduction spans all their INP windows."""
    merged: list[tuple] = []
    for g in groups:
        for i, m in enumerate(merged):
            if m[3] == g[3] and m[5] == g[5] and np.array_equal(m[0], g[0]):
                widx = np.concatenate([m[2], g[2]], axis=0)  # (R_m + R_g, cols)
                merged[i] = (m[0], m[1] + g[1], widx, m[3], m[4] + g[4], m[5])
                break
        else:
            merged.append(g)
    return merged


def _per_group_plan(st, parts, wvals, r_src, r_wgt, p_dst, p_wgt, red) -> tuple | None:
    """One product per weight group (merged groups would write a row twice)."""
    groups = []
    for gu, w in zip(parts, wvals.tolist(), strict=True):
        dst = (gu[:, 0][:, None] + p_dst).reshape(-1)  # (u, p) order
        if not _distinct(dst):
            return None
        widx = (w + r_wgt[:, None] + p_wgt).reshape(-1)  # (r, p) order
        spec = _src_spec(gu[:, 1], r_src, red)
        groups.append((as_slice(dst), [spec], widx, len(gu), len(r_src), len(p_dst)))
    return ("factored", groups, exact_dtype(len(r_src) * st.block_in))


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
    outer = _two_level_progression(src_u)
    if outer is not None:
        (n_hi, step_hi), (n_lo, step_lo) = outer
        shape = (n_hi, n_lo) + tuple(lv[0] for lv in red)
        strides = (step_hi, step_lo) + tuple(lv[2] for lv in red)
        return ("view", int(src_u[0]), shape, strides)
    return rows


def _two_level_progression(v: np.ndarray) -> tuple | None:
    """((n_hi, step_hi), (n_lo, step_lo)) with v[i*n_lo + j] = v[0] + i*step_hi + j*step_lo, all
    steps >= 0 (a plain progression has n_hi = 1), or None."""
    n = len(v)
    if n < 2:
        return (1, 0), (n, 0)
    d = np.diff(v)
    step_lo = int(d[0])
    breaks = np.flatnonzero(d != step_lo)
    n_lo = n if len(breaks) == 0 else int(breaks[0]) + 1
    if n % n_lo:
        return None
    step_hi = int(v[n_lo] - v[0]) if n_lo < n else 0
    if step_lo < 0 or step_hi < 0:
        return None
    i, j = np.divmod(np.arange(n), n_lo)
    if not (v == v[0] + i * step_hi + j * step_lo).all():
        return None
    return (n // n_lo, step_hi), (n_lo, step_lo)


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
    for dst, srcs, widx, nu, nr, npar in groups:
        if len(srcs) == 1:
            x = _src_rows(st, srcs[0]).reshape(nu, nr, b, bi)
        else:  # products over several INP windows summed: concatenate along the reduction
            x = np.concatenate([_src_rows(st, sp).reshape(nu, -1, b, bi) for sp in srcs], axis=1)
        if b == 1:
            lhs = x.reshape(nu, nr * bi)
        else:
            lhs = x.transpose(0, 2, 1, 3).reshape(nu * b, nr * bi)
        rhs = st.wgt_f[widx].reshape(nr, npar, bo, bi).transpose(0, 3, 1, 2).reshape(nr * bi, -1)
        if dtype is not np.float32:
            lhs, rhs = lhs.astype(dtype), rhs.astype(dtype)
        res = lhs @ rhs  # (U*BATCH, P*BLOCK_OUT)
        if b != 1:
            res = res.reshape(nu, b, npar, bo).transpose(0, 2, 1, 3)
        add_rows(st, dst, res.reshape(nu * npar, b * bo))
