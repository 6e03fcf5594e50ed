"""Hand-assembled example programs with their NumPy references.

Every generator has the signature `(cfg, rng) -> (Program, expected)`, where `expected` maps a
DRAM buffer name to the array it must hold after the run. They mirror VTA's unit tests
(`test_vta_insn.py`) and its blocked-GEMM hardware test, at any config: every size below is
derived from `cfg`. `EXAMPLES` lists them all; tests, benchmarks, the CLI demo and the RTL
cross-check iterate over it.

Token conventions (docs/timing-model.md): the last compute instruction before a store pushes g2s;
each STORE pops it and pushes s2g; a final compute NOP pops those s2g tokens so that every store
has finished before FINISH (VTA's Synchronize epilogue).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hw_sim.builder import ProgramBuilder
from hw_sim.config import HwConfig
from hw_sim.isa import AluOp, MemType, Module, Uop
from hw_sim.program import Program

Expected = dict[str, np.ndarray]
Example = Callable[[HwConfig, np.random.Generator], tuple[Program, Expected]]


def _acc_shape(cfg: HwConfig, m: int, n: int) -> tuple[int, ...]:
    return (m, n, cfg.batch, cfg.block_out)


def _int8(x: np.ndarray) -> np.ndarray:
    """Low 8 bits, as the hardware's STORE truncates (NumPy casts wrap)."""
    return np.asarray(x, dtype=np.int64).astype(np.int32).astype(np.int8)


def _store_and_finish(b: ProgramBuilder, out, m: int, n: int, sram: int = 0) -> None:
    """STORE m x n OUT rows to buffer `out` (after a g2s push), then drain and FINISH."""
    b.store(sram, out, y=m, x=n, pop_prev=True, push_prev=True)
    b.nop(Module.COMPUTE, pop_next=True)
    b.finish()


def _alu_loop(m: int, n: int) -> dict:
    """Loop fields that visit an m x n block of ACC rows with one micro-op."""
    return dict(
        uop_bgn=0, uop_end=1, iter_out=m, iter_in=n,
        dst_factor_out=n, dst_factor_in=1, src_factor_out=n, src_factor_in=1,
    )  # fmt: skip


def _acc_program(
    cfg: HwConfig,
    a: np.ndarray,
    ops: list[tuple[AluOp, int | None]],
    b_operand: np.ndarray | None = None,
) -> Program:
    """LOAD ACC `a` (m, n, B, BO int32), apply ALU `ops` in order, STORE the int8 result.

    With `b_operand`, it is loaded after `a` and every op without an immediate reads it.
    """
    m, n = a.shape[:2]
    b = ProgramBuilder(cfg)
    abuf = b.buffer("a", data=a.astype(np.int32))
    out = b.buffer("out", shape=a.shape, dtype=np.int8)
    src_base = 0
    if b_operand is not None:
        bbuf = b.buffer("b", data=b_operand.astype(np.int32))
        src_base = m * n
    kernel = b.uop_kernel([Uop(dst=0, src=src_base, wgt=0)], name="uops")
    b.load_uop(kernel)
    b.load(MemType.ACC, sram=0, buf=abuf, y=m, x=n)
    if b_operand is not None:
        b.load(MemType.ACC, sram=m * n, buf=bbuf, y=m, x=n)
    for i, (op, imm) in enumerate(ops):
        b.alu(op, imm=imm, push_next=i == len(ops) - 1, **_alu_loop(m, n))
    _store_and_finish(b, out, m, n)
    return b.build()


# ----- VTA unit tests ------------------------------------------------------------------------


def save_load_acc(cfg: HwConfig, rng: np.random.Generator) -> tuple[Program, Expected]:
    """DMA int32 into ACC, ALU `x >> 0` (so OUT holds it), STORE int8: y = x as int8."""
    a = rng.integers(1, 10, size=_acc_shape(cfg, 6, 6), dtype=np.int64)
    return _acc_program(cfg, a, [(AluOp.SHR, 0)]), {"out": _int8(a)}


def _padded(pad: tuple[int, int, int, int]) -> Example:
    def gen(cfg: HwConfig, rng: np.random.Generator) -> tuple[Program, Expected]:
        y0, y1, x0, x1 = pad
        m, n = 3, 5
        a = rng.integers(0, 10, size=_acc_shape(cfg, m, n), dtype=np.int64)
        pm, pn = y0 + m + y1, x0 + n + x1
        b = ProgramBuilder(cfg)
        abuf = b.buffer("a", data=a.astype(np.int32))
        out = b.buffer("out", shape=_acc_shape(cfg, pm, pn), dtype=np.int8)
        b.load_uop(b.uop_kernel([Uop(0, 0, 0)], name="uops"))
        b.load(MemType.ACC, sram=0, buf=abuf, y=m, x=n, pad=pad)
        b.alu(AluOp.SHR, imm=0, push_next=True, **_alu_loop(pm, pn))
        _store_and_finish(b, out, pm, pn)
        expected = np.pad(a, ((y0, y1), (x0, x1), (0, 0), (0, 0)))
        return b.build(), {"out": _int8(expected)}

    gen.__doc__ = f"Padded ACC load, pad(y0,y1,x0,x1)={pad}: a zero-padded copy."
    return gen


def _gemm_test(virtual_threads: int) -> Example:
    def gen(cfg: HwConfig, rng: np.random.Generator) -> tuple[Program, Expected]:
        rows, outs = 4, 4  # batch rows (of BATCH each) and output blocks; one input block
        bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        x = rng.integers(-128, 128, size=(rows, 1, bt, bi), dtype=np.int64).astype(np.int8)
        w = rng.integers(-128, 128, size=(outs, 1, bo, bi), dtype=np.int64).astype(np.int8)
        b = ProgramBuilder(cfg)
        xbuf, wbuf = b.buffer("x", data=x), b.buffer("w", data=w)
        out = b.buffer("out", shape=_acc_shape(cfg, rows, outs), dtype=np.int8)
        vt = virtual_threads
        per = rows // vt
        # uops 0..vt-1: GEMM of thread t; vt..2vt-1: ALU of thread t; 2vt: the reset
        uops = [Uop(dst=t * per * outs, src=t * per, wgt=0) for t in range(vt)]
        uops += [Uop(dst=t * per * outs, src=t * per * outs, wgt=0) for t in range(vt)]
        b.load_uop(b.uop_kernel(uops + [Uop(0, 0, 0)], name="uops"))
        b.load(MemType.WGT, sram=0, buf=wbuf, y=1, x=outs)
        for t in range(vt):
            b.load(MemType.INP, sram=t * per, buf=xbuf, y=1, x=per, elem_offset=t * per,
                   push_next=True)  # fmt: skip
        b.gemm(reset=True, uop_bgn=2 * vt, uop_end=2 * vt + 1, iter_out=rows, iter_in=outs,
               dst_factor_out=outs, dst_factor_in=1)  # fmt: skip
        for t in range(vt):
            b.gemm(uop_bgn=t, uop_end=t + 1, iter_out=per, iter_in=outs, dst_factor_out=outs,
                   dst_factor_in=1, src_factor_out=1, wgt_factor_in=1, pop_prev=True)  # fmt: skip
        for t in range(vt):
            tloop = dict(uop_bgn=vt + t, uop_end=vt + t + 1, iter_out=per * outs,
                         dst_factor_out=1, src_factor_out=1)  # fmt: skip
            b.alu(AluOp.SHR, imm=8, **tloop)
            b.alu(AluOp.MAX, imm=0, **tloop)
            b.alu(AluOp.MIN, imm=127, push_next=True, **tloop)
            b.store(t * per * outs, out, y=1, x=per * outs, elem_offset=t * per * outs,
                    pop_prev=True, push_prev=True)  # fmt: skip
        for _ in range(vt):
            b.nop(Module.COMPUTE, pop_next=True)
        b.finish()
        acc = np.einsum("rbk,ojk->robj", x[:, 0].astype(np.int64), w[:, 0].astype(np.int64))
        ref = np.clip(acc.astype(np.int32) >> 8, 0, 127)
        return b.build(), {"out": _int8(ref)}

    gen.__doc__ = (
        f"GEMM {virtual_threads} virtual thread(s): x (4 rows) . w (4 blocks)^T, then "
        ">> 8, max 0, min 127: clip((x.w^T) >> 8, 0, 127)."
    )
    return gen


def _ref_alu(op: AluOp, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Plain-NumPy reference of one ALU op on int32 values (independent of functional.py)."""
    a = np.asarray(a, np.int64)
    b = np.broadcast_to(np.asarray(b, np.int64), a.shape)
    if op == AluOp.MIN:
        return np.minimum(a, b)
    if op == AluOp.MAX:
        return np.maximum(a, b)
    if op == AluOp.ADD:
        return (a + b).astype(np.int32)
    if op == AluOp.MUL:
        return (a * b).astype(np.int32)
    out = np.empty_like(a)
    for idx in np.ndindex(a.shape):  # SHR, one lane at a time: the definition, not a trick
        x, s = int(a[idx]), int(b[idx])
        if s >= 0:
            out[idx] = x >> min(s, 31)
        else:
            out[idx] = ((x << min(-s, 32)) + 2**31) % 2**32 - 2**31
    return out


def _alu_test(op: AluOp, use_imm: bool, imm: int | None = None) -> Example:
    def gen(cfg: HwConfig, rng: np.random.Generator) -> tuple[Program, Expected]:
        shape = _acc_shape(cfg, 8, 8)
        a = rng.integers(-16, 16, size=shape, dtype=np.int64)
        if use_imm:
            value = imm if imm is not None else int(rng.integers(1, 5))
            prog = _acc_program(cfg, a, [(op, value)])
            return prog, {"out": _int8(_ref_alu(op, a, value))}
        lo, hi = (-34, 34) if op == AluOp.SHR else (-16, 16)
        bop = rng.integers(lo, hi, size=shape, dtype=np.int64)
        prog = _acc_program(cfg, a, [(op, None)], b_operand=bop)
        return prog, {"out": _int8(_ref_alu(op, a, bop))}

    operand = (
        f"immediate {imm}"
        if use_imm and imm is not None
        else ("immediate" if use_imm else "tensor")
    )
    gen.__doc__ = f"ALU {op.name} with {operand} operand on an 8x8 block of ACC rows."
    return gen


def relu(cfg: HwConfig, rng: np.random.Generator) -> tuple[Program, Expected]:
    """relu as MAX 0 then MIN 127: clip(a, 0, 127)."""
    a = rng.integers(-256, 256, size=_acc_shape(cfg, 8, 10), dtype=np.int64)
    prog = _acc_program(cfg, a, [(AluOp.MAX, 0), (AluOp.MIN, 127)])
    return prog, {"out": _int8(np.clip(a, 0, 127))}


def shift_and_scale(cfg: HwConfig, rng: np.random.Generator) -> tuple[Program, Expected]:
    """(a + shift) >> scale with immediates."""
    a = rng.integers(-10, 10, size=_acc_shape(cfg, 2, 8), dtype=np.int64)
    shift, scale = int(rng.integers(0, 8)), int(rng.integers(1, 5))
    prog = _acc_program(cfg, a, [(AluOp.ADD, shift), (AluOp.SHR, scale)])
    return prog, {"out": _int8((a + shift) >> scale)}


# ----- bigger programs ----------------------------------------------------------------------


def blocked_gemm(
    cfg: HwConfig,
    rng: np.random.Generator,
    n: int = 256,
    block: int = 64,
    virtual_threads: int = 1,
) -> tuple[Program, Expected]:
    """C = low 8 bits of (A . W^T + bias), A and W n x n int8, in block x block tiles.

    As VTA's `blocked_gemm_test`: for each output tile (row block, column block) compute loads
    the bias tile into ACC, then for each reduction block load loads the A and W tiles and
    compute runs one GEMM ("uop compression": one micro-op per tile row, the two loop levels walk
    the input and output blocks); store writes the tile. With 2 virtual threads the A/W tiles and
    the ACC tiles are double-buffered (ping-pong SRAM regions, one token chain per buffer), so
    loads overlap GEMMs and stores overlap the next tile.
    """
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    vt = virtual_threads
    if vt not in (1, 2):
        raise ValueError(f"virtual_threads must be 1 or 2, got {vt}")
    if n < 1 or block < 1:
        raise ValueError(f"n and block must be positive, got n={n}, block={block}")
    for what, unit in (("BATCH", bt), ("BLOCK_IN", bi), ("BLOCK_OUT", bo)):
        if block % unit:
            raise ValueError(f"block {block} must be a multiple of the config's {what} ({unit})")
    if n % block:
        raise ValueError(f"n {n} must be a multiple of block {block}")
    rows, ci, co = block // bt, block // bi, block // bo  # tile: rows x ci INP, co x ci WGT
    nr, nc_in, nc_out = n // bt, n // bi, n // bo  # DRAM row pitches (elements)
    for buf, need, have in (
        ("INP", vt * rows * ci, cfg.inp_depth),
        ("WGT", vt * co * ci, cfg.wgt_depth),
        ("ACC", vt * rows * co, cfg.acc_depth),
        ("UOP", vt * vt * rows, cfg.uop_depth),
    ):
        if need > have:
            raise ValueError(f"blocked_gemm tile needs {need} {buf} rows, the buffer has {have}")
    a = rng.integers(-128, 128, size=(nr, nc_in, bt, bi), dtype=np.int64).astype(np.int8)
    w = rng.integers(-128, 128, size=(nc_out, nc_in, bo, bi), dtype=np.int64).astype(np.int8)
    bias = rng.integers(-(2**14), 2**14, size=(nr, nc_out, bt, bo), dtype=np.int64)
    bias = bias.astype(np.int32)

    b = ProgramBuilder(cfg)
    abuf, wbuf, biasbuf = b.buffer("A", data=a), b.buffer("W", data=w), b.buffer("bias", data=bias)
    cbuf = b.buffer("C", shape=(nr, nc_out, bt, bo), dtype=np.int8)
    # One kernel per (A/W buffer, ACC buffer) pair: uop r = (acc row r*co, inp row r*ci, wgt 0).
    uops = []
    for tb in range(vt):
        for ta in range(vt):
            uops += [Uop(ta * rows * co + r * co, tb * rows * ci + r * ci, tb * co * ci)
                     for r in range(rows)]  # fmt: skip
    b.load_uop(b.uop_kernel(uops, name="uops"))

    nb = n // block
    tiles = [(i, j) for i in range(nb) for j in range(nb)]
    it = 0  # reduction-step counter across the whole program (selects the A/W buffer)
    total_steps = len(tiles) * nb
    for t, (bi_, bj) in enumerate(tiles):
        ta = t % vt
        b.load(MemType.ACC, sram=ta * rows * co, buf=biasbuf, y=rows, x=co, stride=nc_out,
               elem_offset=bi_ * rows * nc_out + bj * co, pop_next=t >= vt)  # fmt: skip
        for k in range(nb):
            tb = it % vt
            b.load(MemType.INP, sram=tb * rows * ci, buf=abuf, y=rows, x=ci, stride=nc_in,
                   elem_offset=bi_ * rows * nc_in + k * ci, pop_next=it >= vt)  # fmt: skip
            b.load(MemType.WGT, sram=tb * co * ci, buf=wbuf, y=co, x=ci, stride=nc_in,
                   elem_offset=bj * co * nc_in + k * ci, push_next=True)  # fmt: skip
            kernel = (tb * vt + ta) * rows
            b.gemm(uop_bgn=kernel, uop_end=kernel + rows, iter_out=ci, iter_in=co,
                   dst_factor_out=0, dst_factor_in=1, src_factor_out=1, src_factor_in=0,
                   wgt_factor_out=1, wgt_factor_in=ci, pop_prev=True,
                   push_prev=it + vt < total_steps, push_next=k == nb - 1)  # fmt: skip
            it += 1
        tile_offset = bi_ * rows * nc_out + bj * co
        b.store(ta * rows * co, cbuf, y=rows, x=co, stride=nc_out, elem_offset=tile_offset,
                pop_prev=True, push_prev=True)  # fmt: skip
    for _ in range(min(vt, len(tiles))):
        b.nop(Module.COMPUTE, pop_next=True)
    b.finish()

    a2 = a.transpose(0, 2, 1, 3).reshape(n, n).astype(np.int64)
    w2 = w.transpose(0, 2, 1, 3).reshape(n, n).astype(np.int64)
    c = (a2 @ w2.T).astype(np.int32).astype(np.int64)
    c = c + bias.transpose(0, 2, 1, 3).reshape(n, n)
    c8 = _int8(c).reshape(nr, bt, nc_out, bo).transpose(0, 2, 1, 3)
    meta = {"example": "blocked_gemm", "n": n, "block": block, "virtual_threads": vt}
    return b.build(meta), {"C": c8}


def small_insn_stream(
    cfg: HwConfig, rng: np.random.Generator, groups: int = 500, ring: int = 8
) -> tuple[Program, Expected]:
    """Many tiny instructions: per group, LOAD one INP row, GEMM reset + one-uop GEMM, ALU ADD,
    STORE one row — `5*groups` instructions pipelined over a ring of `ring` SRAM slots."""
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    x = rng.integers(-128, 128, size=(groups, bt, bi), dtype=np.int64).astype(np.int8)
    w = rng.integers(-128, 128, size=(1, bo, bi), dtype=np.int64).astype(np.int8)
    imm = int(rng.integers(-100, 100))
    b = ProgramBuilder(cfg)
    xbuf, wbuf = b.buffer("x", data=x), b.buffer("w", data=w)
    out = b.buffer("out", shape=(groups, bt, bo), dtype=np.int8)
    b.load_uop(b.uop_kernel([Uop(r, r, 0) for r in range(ring)], name="uops"))
    b.load(MemType.WGT, sram=0, buf=wbuf, y=1, x=1)
    for g in range(groups):
        r = g % ring
        b.load(MemType.INP, sram=r, buf=xbuf, y=1, x=1, elem_offset=g, pop_next=g >= ring,
               push_next=True)  # fmt: skip
        # the reset writes row r too (HLS writes OUT, fsim stores ACC): it waits for the store
        # of the slot's previous group
        b.gemm(reset=True, uop_bgn=r, uop_end=r + 1, pop_next=g >= ring)
        b.gemm(uop_bgn=r, uop_end=r + 1, pop_prev=True, push_prev=g + ring < groups)
        b.alu(AluOp.ADD, imm=imm, uop_bgn=r, uop_end=r + 1, push_next=True)
        b.store(r, out, y=1, x=1, elem_offset=g, pop_prev=True, push_prev=True)
    for _ in range(min(ring, groups)):
        b.nop(Module.COMPUTE, pop_next=True)
    b.finish()
    ref = np.einsum("gbk,jk->gbj", x.astype(np.int64), w[0].astype(np.int64)) + imm
    return b.build({"example": "small_insn_stream", "groups": groups}), {"out": _int8(ref)}


EXAMPLES: dict[str, Example] = {
    "save_load_acc": save_load_acc,
    "padded_load_y0": _padded((2, 0, 0, 0)),
    "padded_load_y1": _padded((0, 2, 0, 0)),
    "padded_load_x0": _padded((0, 0, 2, 0)),
    "padded_load_x1": _padded((0, 0, 0, 2)),
    "padded_load_all": _padded((1, 1, 1, 1)),
    "gemm": _gemm_test(1),
    "gemm_vt2": _gemm_test(2),
    **{
        f"alu_{op.name.lower()}_{'imm' if imm else 'tensor'}": _alu_test(op, imm)
        for op in AluOp
        for imm in (True, False)
    },
    "alu_shl_imm": _alu_test(AluOp.SHR, True, imm=-3),
    "relu": relu,
    "shift_and_scale": shift_and_scale,
    "blocked_gemm_vt1": lambda cfg, rng: blocked_gemm(cfg, rng, virtual_threads=1),
    "blocked_gemm_vt2": lambda cfg, rng: blocked_gemm(cfg, rng, virtual_threads=2),
    "small_insn_stream": small_insn_stream,
}
