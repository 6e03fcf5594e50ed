"""Passes `inject_alu` and `inject_gemm`: marked regions → micro-op intrinsics.

`inject_alu` turns a `pragma alu` nest `for rows: for e1, e2: D[.., e1, e2] = op(D[..], x)`
(op: add, min, max, shr, shl→SHR by a negative amount, mul; x an immediate or another
accumulator row read at the same element positions — for shr, per-lane shift amounts; a plain
`D = D` read is SHR 0) into

    attr vta.alu = AluSpec(op, use_imm, imm):  for rows: vta.uop(dst_row, src_row, 0)

`inject_gemm` turns a `tensorize gemm` region — for (BATCH, BLOCK_OUT[, BLOCK_IN]) loops, either
`C[.., b, o] = 0` (reset) or `C[.., b, o] += A[.., b, i] * W[.., o, i]` — into

    attr vta.gemm = GemmSpec(reset):  vta.uop(acc_row, inp_row, wgt_row)

The row loops around the region stay; `fold_uop_loops` turns them into micro-op loops.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.tir.nodes import (
    Attr,
    BinOp,
    Call,
    Cast,
    Const,
    Evaluate,
    Load,
    PrimFunc,
    Store,
)
from compiler.tir.visit import Mutator
from compiler.vta.intrin import ACC, INP, WGT, gemm_intrin
from compiler.vta.nest import (
    VtaPassError,
    check_elem_indices,
    perfect_nest,
    row_index,
    wrap_loops,
)
from hw_sim.config import ALU_IMM_WIDTH, HwConfig
from hw_sim.isa import AluOp


@dataclass(frozen=True)
class AluSpec:
    op: AluOp
    use_imm: bool
    imm: int = 0

    def __repr__(self) -> str:
        return f"{self.op.name}({'imm ' + str(self.imm) if self.use_imm else 'tensor'})"


@dataclass(frozen=True)
class GemmSpec:
    reset: bool

    def __repr__(self) -> str:
        return "reset" if self.reset else "gemm"


_ALU_OPS = {
    "add": AluOp.ADD,
    "min": AluOp.MIN,
    "max": AluOp.MAX,
    "shr": AluOp.SHR,
    "shl": AluOp.SHR,
    "mul": AluOp.MUL,
}


def _strip_cast(e):
    while isinstance(e, Cast):
        e = e.value
    return e


def _uop(dst, src, wgt=None) -> Evaluate:
    return Evaluate(Call("vta.uop", (dst, src, Const(0) if wgt is None else wgt)))


def _lower_alu(attr, cfg: HwConfig):
    loops, store = perfect_nest(attr.body)
    what = f"ALU stage {getattr(store, 'buffer', None) and store.buffer.name}"
    if not isinstance(store, Store) or len(loops) < 2 or store.buffer.scope != ACC:
        raise VtaPassError(f"{what}: expected a loop nest writing one accumulator element")
    elem = loops[-2:]
    for lp, n in zip(elem, gemm_intrin(cfg).acc_elem, strict=True):
        if int(lp.extent.value) != n:
            raise VtaPassError(
                f"{what}: element loops must have extents {gemm_intrin(cfg).acc_elem}"
            )
    dst = store.buffer
    check_elem_indices(what, dst, store.indices, elem, ("batch", "lane"))
    dst_row = row_index(dst, store.indices)
    v = store.value

    def same(e):
        e = _strip_cast(e)
        return isinstance(e, Load) and e.buffer is dst and e.indices == store.indices

    if same(v):
        spec, src_row = AluSpec(AluOp.SHR, True, 0), dst_row
    else:
        if not isinstance(v, BinOp) or v.op not in _ALU_OPS:
            raise VtaPassError(f"{what}: {getattr(v, 'op', type(v).__name__)} has no ALU opcode")
        a, b = v.a, v.b
        if not same(a) and v.op in ("add", "min", "max", "mul") and same(b):
            a, b = b, a
        if not same(a):
            raise VtaPassError(f"{what}: the first operand must be the destination (in place)")
        b = _strip_cast(b)
        if isinstance(b, Const):
            imm = int(b.value) * (-1 if v.op == "shl" else 1)
            lim = 1 << (ALU_IMM_WIDTH - 1)
            if not -lim <= imm < lim:
                raise VtaPassError(f"{what}: immediate {imm} does not fit {ALU_IMM_WIDTH} bits")
            spec, src_row = AluSpec(_ALU_OPS[v.op], True, imm), dst_row
        elif isinstance(b, Load) and b.buffer.scope == ACC:
            if v.op == "shl":  # a tensor SHR shifts left by negative amounts: not portable
                raise VtaPassError(f"{what}: left shifts take an immediate amount")
            check_elem_indices(what, b.buffer, b.indices, elem, ("batch", "lane"))
            spec, src_row = AluSpec(_ALU_OPS[v.op], False), row_index(b.buffer, b.indices)
        else:
            raise VtaPassError(
                f"{what}: the second operand must be an immediate or an accumulator tile"
            )
    return Attr("vta.alu", spec, wrap_loops(loops[:-2], _uop(dst_row, src_row)))


def _lower_gemm(attr, cfg: HwConfig):
    loops, store = perfect_nest(attr.body)
    g = gemm_intrin(cfg)
    if not isinstance(store, Store) or store.buffer.scope != ACC:
        raise VtaPassError("tensorize gemm: the region must write one accumulator element")
    c = store.buffer
    what = f"tensorize gemm into {c.name}"
    exts = tuple(int(lp.extent.value) for lp in loops)
    if isinstance(store.value, Const):
        if exts != g.acc_elem:
            raise VtaPassError(f"{what}: reset loops {exts} must be {g.acc_elem}")
        check_elem_indices(what, c, store.indices, loops, ("batch", "out-lane"))
        return Attr("vta.gemm", GemmSpec(True), _uop(row_index(c, store.indices), Const(0)))
    want = (g.batch, g.block_out, g.block_in)
    if exts != want:
        raise VtaPassError(f"{what}: loops {exts} must be (batch, block_out, block_in) = {want}")
    v = store.value
    if not (isinstance(v, BinOp) and v.op == "add" and isinstance(v.b, BinOp) and v.b.op == "mul"):
        raise VtaPassError(f"{what}: expected C = C + A * W")
    a, w = _strip_cast(v.b.a), _strip_cast(v.b.b)
    if not (isinstance(a, Load) and isinstance(w, Load)):
        raise VtaPassError(f"{what}: operands must be reads")
    if a.buffer.scope == WGT and w.buffer.scope == INP:
        a, w = w, a
    if a.buffer.scope != INP or w.buffer.scope != WGT:
        raise VtaPassError(f"{what}: operands must live in {INP} and {WGT}")
    bl, ol, il = loops
    check_elem_indices(what, c, store.indices, [bl, ol], ("batch", "out-lane"))
    check_elem_indices(what, a.buffer, a.indices, [bl, il], ("batch", "in-lane"))
    check_elem_indices(what, w.buffer, w.indices, [ol, il], ("out-lane", "in-lane"))
    return Attr(
        "vta.gemm",
        GemmSpec(False),
        _uop(
            row_index(c, store.indices),
            row_index(a.buffer, a.indices),
            row_index(w.buffer, w.indices),
        ),
    )


def inject_alu(func: PrimFunc, cfg: HwConfig) -> PrimFunc:
    class _M(Mutator):
        def visit_Attr(self, node):  # noqa: N802
            if node.key == "pragma" and node.value == "alu":
                return _lower_alu(node, cfg)
            return node

    return _M().run(func)


def inject_gemm(func: PrimFunc, cfg: HwConfig) -> PrimFunc:
    class _M(Mutator):
        def visit_Attr(self, node):  # noqa: N802
            if node.key == "tensorize":
                if node.value != "gemm":
                    raise VtaPassError(f"tensorize: unknown intrinsic {node.value!r}")
                return _lower_gemm(node, cfg)
            return node

    return _M().run(func)
