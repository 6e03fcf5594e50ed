"""dense / matmul / batched matmul for the CPU: tensor expressions + a knob-parameterized CPU
schedule, lowered by the shared `compiler.tir.lower`.

    x       [B, M, K]
    weight  [B or 1, N/nb, K, nb]   (packed: `nb` output columns contiguous per k)
    out     [B, M, N]

Schedule (a register-blocked GEMM): the output is tiled into `m_tile` rows x `nb` columns;
the loop over (batch, column block) is fused and parallel; each tile is accumulated in a
local buffer (registers: the tile loops are unrolled/vectorized) over the whole reduction,
which streams one packed weight row of `nb` floats and broadcasts one `x` scalar per row.
The column block's packed weights (K x nb floats) are reused by every row tile.
`matmul` adds a stage that packs a runtime right-hand side into a temporary first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.schedule import create_schedule
from compiler.te import cast, compute, placeholder, reduce_axis, sum_reduce
from compiler.tir.lower import lower
from compiler.tir.nodes import BinOp, Const, PrimFunc

F32 = "float32"


@dataclass(frozen=True)
class DenseKnobs:
    nb: int  # output columns per block (vector lanes of one accumulator row)
    m_tile: int  # rows per register tile


def default_dense_knobs(m: int, k: int, n: int, lanes: int, registers: int = 16) -> DenseKnobs:
    """Two vector registers of columns per row (if N allows) and as many rows as fit."""
    nb = next((b for b in (2 * lanes, lanes) if n % b == 0), None) or _fallback_nb(n, lanes)
    regs = max(1, -(-nb // lanes))
    return DenseKnobs(nb=nb, m_tile=max(1, min(m, (registers - regs - 1) // regs)))


def _fallback_nb(n: int, lanes: int) -> int:
    """Column block when no multiple of the vector width divides N: its largest divisor that
    fits two vectors."""
    return max(d for d in range(1, min(n, 2 * lanes) + 1) if n % d == 0)


def knob_space(m: int, n: int, lanes: int, registers: int = 16) -> list[DenseKnobs]:
    """Every schedule the tuner may try: column blocks of 1-4 vectors dividing N, row tiles
    whose accumulators fit `registers` with one weight row and a broadcast."""
    space = []
    blocks = {d for d in (lanes, 2 * lanes, 3 * lanes, 4 * lanes) if n % d == 0}
    for nb in sorted(blocks or {_fallback_nb(n, lanes)}):
        regs = -(-nb // lanes)
        for mt in range(1, max(2, min(m, (registers - regs - 1) // regs) + 1)):
            space.append(DenseKnobs(nb, mt))
    return space


def pack_dense_weight(w: np.ndarray, nb: int) -> np.ndarray:
    """[..., K, N] -> [..., N/nb, K, nb] (NumPy, for constant weights; keeps int8)."""
    *lead, k, n = w.shape
    blocked = w.reshape(*lead, k, n // nb, nb)
    perm = list(range(len(lead))) + [len(lead) + 1, len(lead), len(lead) + 2]
    dt = np.int8 if w.dtype == np.int8 else np.float32
    return np.ascontiguousarray(blocked.transpose(perm), dtype=dt)


def _check(n: int, knobs: DenseKnobs):
    if n % knobs.nb:
        raise ValueError(f"dense: nb={knobs.nb} must divide N={n}")


def _gemm(x, w, batch, m, k, n, knobs: DenseKnobs, w_batched: bool, epilogue=None, acc_t=F32):
    """Tensors (out, acc) of the GEMM; `epilogue(value, b, i, j)` maps the sum when given.
    Operands narrower than `acc_t` (int8) are widened before the multiply."""
    nb = knobs.nb
    r = reduce_axis(k, "r")

    def term(b, i, j):
        a, bw = x[b, i, r], w[b if w_batched else 0, j // nb, r, j % nb]
        return cast(acc_t, a) * cast(acc_t, bw)

    acc = compute((batch, m, n), lambda b, i, j: sum_reduce(term(b, i, j), r), name="acc")
    if epilogue is None:
        return acc, acc
    out = compute((batch, m, n), lambda b, i, j: epilogue(acc[b, i, j], b, i, j), name="out")
    return out, acc


def _schedule(out, acc, knobs: DenseKnobs, extra_stages=()):
    """The CPU schedule of the module docstring; returns the Schedule."""
    s = create_schedule([out])
    if acc is out:
        acc = s.cache_write(out, "local")
    else:
        s[acc].set_scope("local")
    b, i, j = s[out].op.axis
    jo, ji = s[out].split(j, factor=knobs.nb)
    io, ii = s[out].split(i, factor=knobs.m_tile)
    s[out].reorder(b, jo, io, ii, ji)
    bj = s[out].fuse(b, jo)
    s[out].parallel(bj)
    s[out].unroll(ii)
    s[out].vectorize(ji)
    s[acc].compute_at(s[out], io)
    _, ai, aj = s[acc].op.axis
    (ar,) = s[acc].op.reduce_axis
    s[acc].reorder(ar, ai, aj)
    s[acc].unroll(ai)
    s[acc].vectorize(aj)
    for stage_fn in extra_stages:
        stage_fn(s)
    return s


def dense(
    m: int,
    k: int,
    n: int,
    knobs: DenseKnobs,
    batch: int = 1,
    weight_batched: bool = False,
    bias: bool = False,
    relu: bool = False,
    dtype: str = F32,
) -> PrimFunc:
    """`out[b] = x[b] @ W[b or 0] (+ bias)(relu)`; params (x, weight, [bias,] out).

    `dtype` float32, or int8 for quantized graphs: int8 operands, int32 bias and output
    (bit-exact integer accumulation)."""
    _check(n, knobs)
    if dtype not in (F32, "int8"):
        raise ValueError(f"dense: dtype {dtype} not supported on the CPU (float32, int8)")
    acc_t = F32 if dtype == F32 else "int32"
    x = placeholder((batch, m, k), dtype, "x")
    w = placeholder((batch if weight_batched else 1, n // knobs.nb, k, knobs.nb), dtype, "weight")
    bias_t = placeholder((n,), acc_t, "bias") if bias else None
    epilogue = None
    if bias or relu:

        def epilogue(v, b, i, j):
            if bias_t is not None:
                v = v + bias_t[j]
            return BinOp("max", v, Const(0.0 if acc_t == F32 else 0, acc_t)) if relu else v

    out, acc = _gemm(x, w, batch, m, k, n, knobs, weight_batched, epilogue, acc_t)
    f = lower(_schedule(out, acc, knobs), "dense")
    return _with_params(f, [x, w] + ([bias_t] if bias_t is not None else []) + [out])


def matmul(
    m: int, k: int, n: int, knobs: DenseKnobs, batch: int = 1, b_batched: bool = True
) -> PrimFunc:
    """`out[b] = a[b] @ bmat[b or 0]` for runtime operands; params (a, b, out). A first stage
    packs `bmat` into a temporary (parallel over column blocks, vectorized)."""
    _check(n, knobs)
    nb = knobs.nb
    wb = batch if b_batched else 1
    a = placeholder((batch, m, k), F32, "a")
    bmat = placeholder((wb, k, n), F32, "b")
    packed = compute((wb, n // nb, k, nb), lambda q, jo, kk, ji: bmat[q, kk, jo * nb + ji],
                     name="b_packed")  # fmt: skip
    out, acc = _gemm(a, packed, batch, m, k, n, knobs, b_batched)

    def pack_schedule(s):
        q, jo, _, ji = s[packed].op.axis
        s[packed].parallel(s[packed].fuse(q, jo))
        s[packed].vectorize(ji)

    f = lower(_schedule(out, acc, knobs, [pack_schedule]), "matmul")
    return _with_params(f, [a, bmat, out])


def _with_params(f: PrimFunc, tensors) -> PrimFunc:
    """Order the PrimFunc's params as `tensors` (the lowering's order may differ)."""
    by_name = {b.name: b for b in f.params}
    names = [t.op.name for t in tensors]
    if sorted(names) != sorted(by_name):
        raise AssertionError(f"lowered params {sorted(by_name)} != expected {sorted(names)}")
    from dataclasses import replace

    return replace(f, params=tuple(by_name[nm] for nm in names))
