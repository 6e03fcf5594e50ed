"""dense / matmul / batched matmul for the CPU, as knob-parameterized loop-IR generators.

    x       [B, M, K]
    weight  [B or 1, N/nb, K, nb]   (packed: `nb` output columns contiguous per k)
    out     [B, M, N]

Schedule (the classic register-blocked GEMM): a parallel loop over (batch, column block);
the reduction is cut into blocks of `kc` so one block of packed weights (kc x nb floats) stays
in L1 while every row tile of `m_tile` rows passes over it; the m_tile x nb output tile lives
in registers across the k block (nb lanes = one or two vector registers per row).
`matmul` adds a first stage that packs a runtime right-hand side into a temporary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.cpu.nest import nest
from compiler.tir.nodes import (
    Allocate,
    BinOp,
    Buffer,
    Const,
    For,
    ForKind,
    IfThenElse,
    PrimFunc,
    Select,
    Store,
    Var,
    seq,
)

F32 = "float32"


@dataclass(frozen=True)
class DenseKnobs:
    nb: int  # output columns per block (vector lanes of one accumulator row)
    m_tile: int  # rows per register tile
    kc: int  # reduction block (divides K)


def default_dense_knobs(m: int, k: int, n: int, lanes: int) -> DenseKnobs:
    nb = max(d for d in range(1, min(n, 2 * lanes) + 1) if n % d == 0)
    regs = max(1, nb // lanes)
    m_tile = max(1, min(m, (16 - regs - 1) // regs))
    kc = max(d for d in range(1, min(k, 256) + 1) if k % d == 0)
    return DenseKnobs(nb=nb, m_tile=m_tile, kc=kc)


def pack_dense_weight(w: np.ndarray, nb: int) -> np.ndarray:
    """[..., K, N] -> [..., N/nb, K, nb] (NumPy, for constant weights)."""
    *lead, k, n = w.shape
    blocked = w.reshape(*lead, k, n // nb, nb)
    perm = list(range(len(lead))) + [len(lead) + 1, len(lead), len(lead) + 2]
    return np.ascontiguousarray(blocked.transpose(perm), dtype=np.float32)


def _check(m, k, n, knobs: DenseKnobs):
    if n % knobs.nb or k % knobs.kc:
        raise ValueError(
            f"dense: nb={knobs.nb} must divide N={n} and kc={knobs.kc} must divide K={k}"
        )


def _gemm_body(x, w, out, bias_buf, relu, batch, m, k, n, knobs: DenseKnobs, w_batched: bool):
    nb, mt, kc = knobs.nb, knobs.m_tile, knobs.kc
    nbn, kbn = n // nb, k // kc
    p, kb = Var("p"), Var("kb")
    bi, nbi = p // nbn, p % nbn
    wb = bi if w_batched else Const(0)

    def tile(m0, rows: int):
        acc = Buffer("acc", (rows, nb), F32, scope="local")
        r, l = Var("r"), Var("l")  # noqa: E741
        init = nest(
            [(r, rows, ForKind.UNROLLED), (l, nb, ForKind.VECTORIZED)],
            Store(
                acc,
                (r, l),
                Select(BinOp("eq", kb, Const(0)), Const(0.0, F32), out[bi, m0 + r, nbi * nb + l]),
            ),
        )
        kk, r2, l2 = Var("kk"), Var("r"), Var("l")
        kidx = kb * kc + kk
        update = nest(
            [(kk, kc, ForKind.SERIAL), (r2, rows, ForKind.UNROLLED), (l2, nb, ForKind.VECTORIZED)],
            Store(acc, (r2, l2), acc[r2, l2] + x[bi, m0 + r2, kidx] * w[wb, nbi, kidx, l2]),
        )
        r3, l3 = Var("r"), Var("l")
        val = acc[r3, l3]
        plain = nest(
            [(r3, rows, ForKind.UNROLLED), (l3, nb, ForKind.VECTORIZED)],
            Store(out, (bi, m0 + r3, nbi * nb + l3), val),
        )
        if bias_buf is not None or relu:
            r4, l4 = Var("r"), Var("l")
            fin = acc[r4, l4]
            if bias_buf is not None:
                fin = fin + bias_buf[nbi * nb + l4]
            if relu:
                fin = BinOp("max", fin, Const(0.0, F32))
            last = nest(
                [(r4, rows, ForKind.UNROLLED), (l4, nb, ForKind.VECTORIZED)],
                Store(out, (bi, m0 + r4, nbi * nb + l4), fin),
            )
            store = IfThenElse(BinOp("eq", kb, Const(kbn - 1)), last, plain)
        else:
            store = plain
        return Allocate(acc, seq(init, update, store))

    full, rest = divmod(m, mt)
    mi = Var("mi")
    rows = seq(
        For(mi, Const(0), Const(full), ForKind.SERIAL, tile(mi * mt, mt)) if full else None,
        tile(Const(full * mt), rest) if rest else None,
    )
    return For(
        p,
        Const(0),
        Const(batch * nbn),
        ForKind.PARALLEL,
        For(kb, Const(0), Const(kbn), ForKind.SERIAL, rows),
    )


def dense(
    m: int,
    k: int,
    n: int,
    knobs: DenseKnobs,
    batch: int = 1,
    weight_batched: bool = False,
    bias: bool = False,
    relu: bool = False,
) -> PrimFunc:
    """`out[b] = x[b] @ W[b or 0] (+ bias)(relu)` with W packed (see module docstring)."""
    _check(m, k, n, knobs)
    x = Buffer("x", (batch, m, k), F32)
    w = Buffer("weight", (batch if weight_batched else 1, n // knobs.nb, k, knobs.nb), F32)
    b = Buffer("bias", (n,), F32) if bias else None
    out = Buffer("out", (batch, m, n), F32)
    body = _gemm_body(x, w, out, b, relu, batch, m, k, n, knobs, weight_batched)
    params = (x, w) + ((b,) if b is not None else ()) + (out,)
    return PrimFunc("dense", params, body)


def matmul(
    m: int, k: int, n: int, knobs: DenseKnobs, batch: int = 1, b_batched: bool = True
) -> PrimFunc:
    """`out[b] = a[b] @ bmat[b]` for runtime operands: stage 1 packs `bmat` (a temporary)."""
    _check(m, k, n, knobs)
    nb = knobs.nb
    wb = batch if b_batched else 1
    a = Buffer("a", (batch, m, k), F32)
    bmat = Buffer("b", (wb, k, n), F32)
    packed = Buffer("b_packed", (wb, n // nb, k, nb), F32)
    out = Buffer("out", (batch, m, n), F32)
    q, kk, l = Var("q"), Var("kk"), Var("l")  # noqa: E741
    pack = nest(
        [
            (q, wb * (n // nb), ForKind.PARALLEL),
            (kk, k, ForKind.SERIAL),
            (l, nb, ForKind.VECTORIZED),
        ],
        Store(
            packed,
            (q // (n // nb), q % (n // nb), kk, l),
            bmat[q // (n // nb), kk, q % (n // nb) * nb + l],
        ),
    )
    gemm = _gemm_body(a, packed, out, None, False, batch, m, k, n, knobs, b_batched)
    return PrimFunc("matmul", (a, bmat, out), Allocate(packed, seq(pack, gemm)))
