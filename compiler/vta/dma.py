"""Pass `inject_dma_copy`: `pragma dma_copy` copy nests → 2-D DMA intrinsics with padding.

A marked nest copies a tile between a DRAM tensor and an SRAM buffer element by element:
    for rows...: for e1, e2: dst[.., e1, e2] = src[.., e1, e2]
(the value optionally `select(in-bounds, src, 0)`).
Rows are flattened (SRAM rows dense; DRAM rows in elements of the memory type); row loops whose
strides chain are merged; the innermost contiguous run becomes `x`, the next loop `y` with its
DRAM stride, and any further loops stay as loops around the intrinsic. A `select` whose condition
bounds a row loop becomes zero padding before/after (on the x and y loops only); the DMA then
starts at the first in-bounds element. Output (all arguments are expressions of outer loops):

    vta.load_2d(mem_type, sram_row, param, dram_elem, y_size, x_size, x_stride,
                y_pad_0, y_pad_1, x_pad_0, x_pad_1)
    vta.store_2d(sram_row, param, dram_elem, y_size, x_size, x_stride)
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.tir.affine import linear_form, simplify
from compiler.tir.nodes import (
    BinOp,
    Call,
    Cast,
    Const,
    Evaluate,
    Expr,
    Load,
    PrimFunc,
    Select,
    Store,
    max_expr,
    min_expr,
)
from compiler.tir.visit import Mutator
from compiler.vta.intrin import SCOPES, scope_mem
from compiler.vta.nest import (
    VtaPassError,
    check_elem_indices,
    drop_unit_loops,
    perfect_nest,
    row_index,
    subst,
    wrap_loops,
)


@dataclass
class _Dim:
    loops: list  # the For loops this dim stands for (several after merging)
    ext: int
    dd: int  # SRAM row stride
    ds: int  # DRAM element stride
    lo: Expr | None = None  # in-bounds when loop var >= lo
    hi: Expr | None = None  # in-bounds when loop var < hi


def _split_conj(c) -> list:
    if isinstance(c, BinOp) and c.op == "and":
        return _split_conj(c.a) + _split_conj(c.b)
    return [c]


def _bounds_from_cond(cond, loops, what: str) -> dict:
    """{loop var: (lo, hi)} from a conjunction of comparisons, each on one loop var (coef 1)."""
    out: dict = {}
    for c in _split_conj(cond):
        if not (isinstance(c, BinOp) and c.op in ("ge", "lt", "le", "gt")):
            raise VtaPassError(f"{what}: padding condition must compare loop indices with bounds")
        lf = linear_form(BinOp("sub", c.a, c.b), [lp.var for lp in loops])
        if lf is None or len(lf[0]) != 1 or list(lf[0].values())[0] != 1:
            raise VtaPassError(f"{what}: each padding condition must involve one loop index")
        (v, _), rest = next(iter(lf[0].items())), lf[1]
        lo, hi = out.get(v, (None, None))
        # v + rest (op) 0
        if c.op == "ge":
            lo = simplify(BinOp("sub", Const(0), rest))
        elif c.op == "gt":
            lo = simplify(BinOp("sub", Const(1), rest))
        elif c.op == "lt":
            hi = simplify(BinOp("sub", Const(0), rest))
        else:
            hi = simplify(BinOp("sub", Const(1), rest))
        out[v] = (lo, hi)
    return out


def _coeff(expr, var) -> int:
    lf = linear_form(expr, [var])
    if lf is None:
        raise VtaPassError("DMA: a row index is not affine in its loop")
    return lf[0].get(var, 0)


def _lower_copy(attr, func: PrimFunc):
    loops, store = perfect_nest(attr.body)
    if not isinstance(store, Store) or len(loops) < 2:
        raise VtaPassError("dma_copy: expected a loop nest around one element copy")
    value, cond = store.value, None
    if isinstance(value, Select):
        cond, value = value.cond, value.true_value
    while isinstance(value, Cast):
        value = value.value
    if not isinstance(value, Load):
        raise VtaPassError(f"dma_copy into {store.buffer.name}: the value must be a plain read")
    dst, src = store.buffer, value.buffer
    load = dst.scope in SCOPES
    if load == (src.scope in SCOPES):
        raise VtaPassError(f"dma_copy {src.name} -> {dst.name}: exactly one side must be an SRAM")
    what = f"dma_copy {src.name} -> {dst.name}"
    elem_loops = loops[-2:]
    check_elem_indices(what, dst, store.indices, elem_loops, ("element-row", "element-lane"))
    check_elem_indices(what, src, value.indices, elem_loops, ("element-row", "element-lane"))
    sram_buf, sram_idx = (dst, store.indices) if load else (src, value.indices)
    dram_buf, dram_idx = (src, value.indices) if load else (dst, store.indices)
    if dram_buf not in func.params:
        raise VtaPassError(f"{what}: {dram_buf.name} must be a function parameter (DRAM)")
    if not load and sram_buf.dtype != "int32":
        raise VtaPassError(f"{what}: stores read the accumulator (int32) rows")
    row_loops, unit = drop_unit_loops(loops[:-2])
    srow = subst(row_index(sram_buf, sram_idx), unit)
    drow = subst(row_index(dram_buf, dram_idx, base=False), unit)
    cond = subst(cond, unit) if cond is not None else None
    pads = _bounds_from_cond(cond, row_loops, what) if cond is not None else {}
    dims = [
        _Dim(
            [lp],
            int(lp.extent.value),
            _coeff(srow, lp.var),
            _coeff(drow, lp.var),
            *pads.get(lp.var, (None, None)),
        )
        for lp in row_loops
    ]
    # merge contiguous unpadded dims (inner first)
    merged: list[_Dim] = []
    for d in reversed(dims):
        if merged:
            m = merged[-1]
            if (
                m.lo is None
                and m.hi is None
                and d.lo is None
                and d.hi is None
                and d.dd == m.dd * m.ext
                and d.ds == m.ds * m.ext
            ):
                merged[-1] = _Dim(d.loops + m.loops, m.ext * d.ext, m.dd, m.ds)
                continue
        merged.append(d)
    merged.reverse()  # outer -> inner
    x = merged[-1] if merged and merged[-1].dd == 1 and merged[-1].ds == 1 else None
    rest = merged[:-1] if x is not None else merged
    y = None
    xe = x.ext if x is not None else 1
    if rest and rest[-1].dd == xe:
        y, rest = rest[-1], rest[:-1]
    for d in rest:
        if d.lo is not None or d.hi is not None:
            raise VtaPassError(f"{what}: padding is only supported on the two innermost row loops")
    outer_loops = [lp for d in rest for lp in d.loops]

    def pad_amounts(d):
        if d is None:
            return Const(0), Const(0), Const(1)
        p0 = Const(0) if d.lo is None else simplify(min_expr(max_expr(d.lo, 0), d.ext))
        p1 = (
            Const(0)
            if d.hi is None
            else simplify(min_expr(max_expr(BinOp("sub", Const(d.ext), d.hi), 0), d.ext))
        )
        size = simplify(BinOp("sub", BinOp("sub", Const(d.ext), p0), p1))
        return p0, p1, size

    yp0, yp1, ysize = pad_amounts(y)
    xp0, xp1, xsize = pad_amounts(x)
    zero = {lp.var: Const(0) for d in (x, y) if d is not None for lp in d.loops}
    sram0 = subst(srow, zero)
    first = dict(zero)  # padded dims are never merged: one loop each
    if y is not None and y.lo is not None:
        first[y.loops[0].var] = yp0
    if x is not None and x.lo is not None:
        first[x.loops[0].var] = xp0
    dram0 = subst(drow, first)
    param = Const(list(func.params).index(dram_buf))
    stride = Const(y.ds if y is not None else xe)
    if load:
        mem = scope_mem(dst.scope, src.dtype)
        call = Call(
            "vta.load_2d",
            (Const(int(mem)), sram0, param, dram0, ysize, xsize, stride, yp0, yp1, xp0, xp1),
        )
    else:
        call = Call("vta.store_2d", (sram0, param, dram0, ysize, xsize, stride))
    return wrap_loops(outer_loops, Evaluate(call))


def inject_dma_copy(func: PrimFunc) -> PrimFunc:
    class _M(Mutator):
        def visit_Attr(self, node):  # noqa: N802
            if node.key == "pragma" and node.value == "dma_copy":
                return _lower_copy(node, func)
            return node

    return _M().run(func)
