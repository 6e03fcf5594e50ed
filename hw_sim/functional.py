"""The executable ISA spec: what each instruction does to the SRAMs and DRAM.

One function per opcode (`load`, `store`, `gemm`, `alu`); each docstring holds the instruction's
pseudo-loop, and the body does the same work in bulk with NumPy. The timing of instructions is
not here (see `hw_sim.timing`); the simulator calls these functions in start-cycle order.

Exactness notes
* GEMM products are computed in float32: one dot product of BLOCK_IN int8 pairs is at most
  BLOCK_IN * 2**14 in magnitude, exact in float32 while BLOCK_IN <= 2**10 (checked). Products are
  then summed per destination row in int64 and wrapped to int32, which equals sequential int32
  wrap-around accumulation because addition modulo 2**32 is associative.
* ALU micro-ops are applied in loop order. The vectorized path is used only when it provably
  matches sequential execution (no destination repeats, and no micro-op reads a row written by an
  earlier one); otherwise an ordered path runs (rounds of distinct destinations for immediates,
  one micro-op at a time for tensor operands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw_sim.config import HwConfig
from hw_sim.disasm import disasm
from hw_sim.errors import DramRangeError, InvalidInstructionError, SramRangeError
from hw_sim.isa import AluInsn, AluOp, GemmInsn, Insn, MemInsn, MemType, Opcode, decode_uops
from hw_sim.program import mem_elem_bytes

# Largest number of micro-ops materialized at once; longer loops run in chunks of outer iterations.
CHUNK_UOPS = 1 << 20
# Use the product-table GEMM when (src range * wgt range) <= this many times the micro-op count.
TABLE_FACTOR = 4


@dataclass
class Where:
    """The instruction being executed, for error messages."""

    index: int
    insn: Insn

    def listing(self) -> str:
        return disasm(self.insn)

    def sram_error(self, fld: str, problem: str) -> SramRangeError:
        return SramRangeError(self.index, self.listing(), fld, problem)

    def dram_error(self, fld: str, problem: str) -> DramRangeError:
        return DramRangeError(self.index, self.listing(), fld, problem)

    def invalid(self, problem: str) -> InvalidInstructionError:
        return InvalidInstructionError(self.index, self.listing(), problem)


class SramState:
    """The on-chip buffers, shaped per config (one row = one element).

    inp (INP_DEPTH, BATCH, BLOCK_IN) int8; wgt (WGT_DEPTH, BLOCK_OUT, BLOCK_IN) int8;
    acc (ACC_DEPTH, BATCH, BLOCK_OUT) int32; out (ACC_DEPTH, BATCH, BLOCK_OUT) int8;
    uop (UOP_DEPTH, 3) int64 decoded micro-ops (dst, src, wgt). `inp_f` and `wgt_f` are float32
    shadows of inp and wgt, kept in sync by `load`, that feed the BLAS product.
    """

    def __init__(self, cfg: HwConfig):
        if cfg.block_in > 1 << 10:
            raise ValueError("float32 GEMM products are exact only for BLOCK_IN <= 1024")
        self.cfg = cfg
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        self.inp = np.zeros((cfg.inp_depth, b, bi), np.int8)
        self.wgt = np.zeros((cfg.wgt_depth, bo, bi), np.int8)
        self.acc = np.zeros((cfg.acc_depth, b, bo), np.int32)
        self.out = np.zeros((cfg.out_depth, b, bo), np.int8)
        self.uop = np.zeros((cfg.uop_depth, 3), np.int64)
        self.inp_f = np.zeros((cfg.inp_depth, b * bi), np.float32)
        self.wgt_f = np.zeros((cfg.wgt_depth, bo, bi), np.float32)


# ----- LOAD / STORE -------------------------------------------------------------------------


def _dram_rows(dram: np.ndarray, insn: MemInsn, eb: int, where: Where) -> np.ndarray:
    """(y_size, x_size*eb) uint8 view of the DRAM rows an instruction touches (range-checked)."""
    y, x, stride = insn.y_size, insn.x_size, insn.x_stride
    start = insn.dram_base * eb
    end = start + ((y - 1) * stride + x) * eb
    if start >= dram.size:
        raise where.dram_error(
            "dram_base",
            f"element {insn.dram_base} ({eb} B each) starts at byte {start}, beyond the "
            f"{dram.size}-byte DRAM",
        )
    if end > dram.size:
        raise where.dram_error(
            "y_size/x_stride",
            f"rows reach byte {end} (dram_base={insn.dram_base}, y_size={y}, x_size={x}, "
            f"x_stride={stride}, {eb} B elements) beyond the {dram.size}-byte DRAM",
        )
    if stride == x or y == 1:
        return dram[start:end].reshape(y, x * eb)
    return np.lib.stride_tricks.as_strided(
        dram[start:], shape=(y, x * eb), strides=(stride * eb, 1), writeable=False
    )


def _check_sram(where: Where, name: str, base: int, rows: int, depth: int, fld: str) -> None:
    if base + rows > depth:
        raise where.sram_error(
            fld,
            f"{name} rows {base}..{base + rows - 1} exceed the buffer (depth {depth}, rows "
            f"0..{depth - 1})",
        )


def load(st: SramState, dram: np.ndarray, insn: MemInsn, where: Where) -> None:
    """LOAD a padded 2-D block from DRAM into an SRAM.

        rows = y_pad_0 + y_size + y_pad_1;  cols = x_pad_0 + x_size + x_pad_1
        for r < rows, c < cols:
            y, x = r - y_pad_0, c - x_pad_0
            SRAM[sram_base + r*cols + c] =
                DRAM[dram_base + y*x_stride + x] if 0 <= y < y_size and 0 <= x < x_size else 0

    ACC_8BIT sign-extends int8 DRAM values into ACC. LOAD ACC does not touch OUT. UOP loads
    decode micro-ops and may not be padded. `x_size == 0` is a NOP.
    """
    if insn.x_size == 0:
        return
    cfg = st.cfg
    mt = insn.mem_type
    if mt == MemType.OUT:
        raise where.invalid("LOAD cannot target OUT (OUT is written by GEMM/ALU, read by STORE)")
    pads = (insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1)
    if mt == MemType.UOP and any(pads):
        raise where.invalid(f"UOP loads cannot be padded, got pad(y0,y1,x0,x1)={pads}")
    eb = mem_elem_bytes(cfg, mt)
    rows_y = insn.y_pad_0 + insn.y_size + insn.y_pad_1
    cols = insn.x_pad_0 + insn.x_size + insn.x_pad_1
    depth = {
        MemType.UOP: cfg.uop_depth,
        MemType.INP: cfg.inp_depth,
        MemType.WGT: cfg.wgt_depth,
        MemType.ACC: cfg.acc_depth,
        MemType.ACC_8BIT: cfg.acc_depth,
    }[mt]
    _check_sram(where, mt.name, insn.sram_base, rows_y * cols, depth, "sram_base")
    raw = np.ascontiguousarray(_dram_rows_or_empty(dram, insn, eb, where))
    y, x = insn.y_size, insn.x_size
    if mt == MemType.UOP:
        data = decode_uops(raw.view("<u4").reshape(-1), cfg).reshape(y, x, 3)
        targets = [st.uop]
    elif mt == MemType.INP:
        data = raw.view(np.int8).reshape(y, x, cfg.batch, cfg.block_in)
        targets = [st.inp, st.inp_f]
    elif mt == MemType.WGT:
        data = raw.view(np.int8).reshape(y, x, cfg.block_out, cfg.block_in)
        targets = [st.wgt, st.wgt_f]
    elif mt == MemType.ACC:
        data = raw.view("<i4").reshape(y, x, cfg.batch, cfg.block_out)
        targets = [st.acc]
    else:  # ACC_8BIT
        data = raw.view(np.int8).reshape(y, x, cfg.batch, cfg.block_out)
        targets = [st.acc]
    base, n = insn.sram_base, rows_y * cols
    for arr in targets:
        block = arr[base : base + n].reshape((rows_y, cols) + arr.shape[1:])
        if any(pads):
            block[...] = 0
        block[insn.y_pad_0 : insn.y_pad_0 + y, insn.x_pad_0 : insn.x_pad_0 + x] = data.reshape(
            (y, x) + arr.shape[1:]
        )


def _dram_rows_or_empty(dram: np.ndarray, insn: MemInsn, eb: int, where: Where) -> np.ndarray:
    if insn.y_size == 0:  # only padding rows: nothing read from DRAM
        return np.zeros((0, insn.x_size * eb), np.uint8)
    return _dram_rows(dram, insn, eb, where)


def store(st: SramState, dram: np.ndarray, insn: MemInsn, where: Where) -> None:
    """STORE OUT rows to DRAM (the low 8 bits GEMM/ALU last wrote there).

        for y < y_size, x < x_size:
            DRAM[dram_base + y*x_stride + x] = OUT[sram_base + y*x_size + x]

    Only OUT can be stored, and STORE has no padding. `x_size == 0` is a NOP.
    """
    if insn.x_size == 0:
        return
    if insn.mem_type != MemType.OUT:
        raise where.invalid(f"STORE must target OUT, got {insn.mem_type.name}")
    pads = (insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1)
    if any(pads):
        raise where.invalid(f"STORE cannot be padded, got pad(y0,y1,x0,x1)={pads}")
    if insn.y_size == 0:
        return
    cfg = st.cfg
    y, x = insn.y_size, insn.x_size
    _check_sram(where, "OUT", insn.sram_base, y * x, cfg.out_depth, "sram_base")
    eb = cfg.out_elem_bytes
    _dram_rows(dram, insn, eb, where)  # range check
    src = st.out[insn.sram_base : insn.sram_base + y * x].reshape(y, x * eb).view(np.uint8)
    start = insn.dram_base * eb
    if insn.x_stride == x or y == 1:
        dram[start : start + y * x * eb] = src.reshape(-1)
    elif insn.x_stride > x:
        view = np.lib.stride_tricks.as_strided(
            dram[start:], shape=(y, x * eb), strides=(insn.x_stride * eb, 1)
        )
        view[...] = src
    else:  # overlapping rows: later rows win, as in sequential execution
        for r in range(y):
            off = start + r * insn.x_stride * eb
            dram[off : off + x * eb] = src[r]


# ----- micro-op loops ---------------------------------------------------------------------


def _check_loop(st: SramState, insn: GemmInsn | AluInsn, where: Where) -> np.ndarray:
    """Range-check the loop's micro-op window and every index it will generate; return the uops."""
    cfg = st.cfg
    if insn.uop_end < insn.uop_bgn:
        raise where.invalid(f"uop_end={insn.uop_end} < uop_bgn={insn.uop_bgn}")
    if insn.uop_end > cfg.uop_depth:
        raise where.sram_error(
            "uop_end",
            f"micro-op window {insn.uop_bgn}..{insn.uop_end - 1} exceeds the UOP "
            f"buffer (depth {cfg.uop_depth})",
        )
    uops = st.uop[insn.uop_bgn : insn.uop_end]
    if insn.n_uops == 0:
        return uops
    gemm = isinstance(insn, GemmInsn)
    checks = [("dst", 0, insn.dst_factor_out, insn.dst_factor_in, cfg.acc_depth, "ACC")]
    if not (gemm and insn.reset):
        src_buf = ("INP", cfg.inp_depth) if gemm else ("ACC", cfg.acc_depth)
        checks.append(("src", 1, insn.src_factor_out, insn.src_factor_in, src_buf[1], src_buf[0]))
        if gemm:
            checks.append(("wgt", 2, insn.wgt_factor_out, insn.wgt_factor_in, cfg.wgt_depth, "WGT"))
    for name, col, f_out, f_in, depth, buf in checks:
        hi = int(uops[:, col].max()) + (insn.iter_out - 1) * f_out + (insn.iter_in - 1) * f_in
        if hi >= depth:
            u = insn.uop_bgn + int(np.argmax(uops[:, col]))
            raise where.sram_error(
                name,
                f"{buf} index reaches {hi} (largest uop {name}={int(uops[:, col].max())} at uop "
                f"{u}, {name}_factor_out={f_out}, {name}_factor_in={f_in}, iter "
                f"{insn.iter_out}x{insn.iter_in}); {buf} rows are 0..{depth - 1}",
            )
    return uops


def _loop_chunks(insn: GemmInsn | AluInsn, uops: np.ndarray, cols: tuple[int, ...]):
    """Yield, in loop order, index arrays (one per column in `cols`) for chunks of outer iterations.

    Column c: uops[:, c] + o*factor_out(c) + i*factor_in(c), flattened as (o, i, u).
    """
    factors = {
        0: (insn.dst_factor_out, insn.dst_factor_in),
        1: (insn.src_factor_out, insn.src_factor_in),
        2: (getattr(insn, "wgt_factor_out", 0), getattr(insn, "wgt_factor_in", 0)),
    }
    per_outer = insn.iter_in * len(uops)
    step = max(1, CHUNK_UOPS // max(1, per_outer))
    inner = np.arange(insn.iter_in, dtype=np.int64)
    for o0 in range(0, insn.iter_out, step):
        outer = np.arange(o0, min(insn.iter_out, o0 + step), dtype=np.int64)
        out = []
        for c in cols:
            f_out, f_in = factors[c]
            idx = (
                uops[None, None, :, c]
                + (outer * f_out)[:, None, None]
                + (inner * f_in)[None, :, None]
            )
            out.append(idx.reshape(-1))
        yield out


# ----- GEMM ---------------------------------------------------------------------------------


def _gemm_products(st: SramState, src: np.ndarray, wgt: np.ndarray) -> np.ndarray:
    """(n, BATCH, BLOCK_OUT) float32 products INP[src[k]] . WGT[wgt[k]]^T (exact integers)."""
    cfg = st.cfg
    n = len(src)
    s0, s1 = int(src.min()), int(src.max())
    w0, w1 = int(wgt.min()), int(wgt.max())
    ns, nw = s1 - s0 + 1, w1 - w0 + 1
    if ns * nw <= TABLE_FACTOR * n:
        # One BLAS call over every (src, wgt) pair in range, then pick the pairs used.
        lhs = st.inp_f[s0 : s1 + 1].reshape(ns * cfg.batch, cfg.block_in)
        rhs = st.wgt_f[w0 : w1 + 1].reshape(nw * cfg.block_out, cfg.block_in)
        table = (lhs @ rhs.T).reshape(ns, cfg.batch, nw, cfg.block_out)
        return table[src - s0, :, wgt - w0, :]
    x = st.inp_f[src].reshape(n, cfg.batch, cfg.block_in)
    w = st.wgt_f[wgt]
    return np.matmul(x, w.transpose(0, 2, 1))


def _accumulate(st: SramState, dst: np.ndarray, values: np.ndarray) -> None:
    """ACC[dst[k]] += values[k] for every k (int32 wrap-around), and OUT[row] = low 8 bits."""
    order = np.argsort(dst, kind="stable")
    d = dst[order]
    starts = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
    rows = d[starts]
    if len(rows) == len(d):
        sums = values[order].astype(np.int64)
    else:
        sums = np.add.reduceat(values[order].astype(np.int64), starts, axis=0)
    new = (st.acc[rows].astype(np.int64) + sums).astype(np.int32)
    st.acc[rows] = new
    st.out[rows] = new.astype(np.int8)


def gemm(st: SramState, insn: GemmInsn, where: Where) -> None:
    """GEMM over a two-level micro-op loop.

    for o < iter_out, i < iter_in, u in uop_bgn..uop_end-1:
        d = UOP[u].dst + o*dst_factor_out + i*dst_factor_in
        s = UOP[u].src + o*src_factor_out + i*src_factor_in
        w = UOP[u].wgt + o*wgt_factor_out + i*wgt_factor_in
        if reset: ACC[d] = 0                       (OUT unchanged)
        else:     ACC[d] += INP[s] . WGT[w]^T      (int32 wrap-around)
                  OUT[d] = low 8 bits of ACC[d]
    """
    uops = _check_loop(st, insn, where)
    if insn.n_uops == 0:
        return
    if insn.reset:
        for (dst,) in _loop_chunks(insn, uops, (0,)):
            st.acc[dst] = 0
        return
    for dst, src, wgt in _loop_chunks(insn, uops, (0, 1, 2)):
        _accumulate(st, dst, _gemm_products(st, src, wgt))


# ----- ALU ----------------------------------------------------------------------------------


def alu_apply(op: AluOp, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """op(a, b) on int32 lanes with the hardware's semantics; returns int32.

    MIN/MAX signed; ADD/MUL wrap to 32 bits; SHR by b >= 0 is arithmetic (b >= 32 gives the sign
    bits), by b < 0 a left shift by -b (-b >= 32 gives 0).
    """
    a64 = np.asarray(a, dtype=np.int64)
    b64 = np.asarray(b, dtype=np.int64)
    if op == AluOp.MIN:
        r = np.minimum(a64, b64)
    elif op == AluOp.MAX:
        r = np.maximum(a64, b64)
    elif op == AluOp.ADD:
        r = a64 + b64
    elif op == AluOp.MUL:
        r = a64 * b64
    elif op == AluOp.SHR:
        right = a64 >> np.clip(b64, 0, 31)
        left_amount = np.clip(-b64, 0, 32).astype(np.uint64)
        left = ((a64.astype(np.uint64) << left_amount) & np.uint64(0xFFFFFFFF)).astype(np.int64)
        r = np.where(b64 >= 0, right, left)
    else:
        raise ValueError(f"unknown ALU op {op!r}")
    return np.asarray(r).astype(np.int32)


def _occurrence_rank(dst: np.ndarray) -> np.ndarray:
    """rank[k] = how many earlier positions hold the same value as dst[k]."""
    order = np.argsort(dst, kind="stable")
    d = dst[order]
    new_group = np.concatenate(([True], d[1:] != d[:-1]))
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(d)), 0))
    rank = np.empty(len(d), np.int64)
    rank[order] = np.arange(len(d)) - group_start
    return rank


def _reads_earlier_write(dst: np.ndarray, src: np.ndarray, depth: int) -> bool:
    """True if some micro-op k reads a row that an earlier micro-op j < k writes."""
    first_write = np.full(depth, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first_write, dst, np.arange(len(dst), dtype=np.int64))
    return bool((first_write[src] < np.arange(len(src))).any())


def alu(st: SramState, insn: AluInsn, where: Where) -> None:
    """ALU over a two-level micro-op loop (src indexes ACC; the uop's wgt field is unused).

    for o < iter_out, i < iter_in, u in uop_bgn..uop_end-1:
        d = UOP[u].dst + o*dst_factor_out + i*dst_factor_in
        s = UOP[u].src + o*src_factor_out + i*src_factor_in
        ACC[d] = op(ACC[d], imm if use_imm else ACC[s])     (per lane, int32)
        OUT[d] = low 8 bits of ACC[d]
    """
    uops = _check_loop(st, insn, where)
    if insn.n_uops == 0:
        return
    acc, out, op = st.acc, st.out, insn.alu_op
    for dst, src in _loop_chunks(insn, uops, (0, 1)):
        if insn.use_imm:
            rank = _occurrence_rank(dst)
            rounds = int(rank.max()) + 1
            for r in range(rounds):  # one round unless a destination repeats
                d = dst if rounds == 1 else dst[rank == r]
                new = alu_apply(op, acc[d], insn.imm)
                acc[d] = new
                out[d] = new.astype(np.int8)
            continue
        hazard = len(np.unique(dst)) != len(dst) or _reads_earlier_write(dst, src, st.cfg.acc_depth)
        if not hazard:
            new = alu_apply(op, acc[dst], acc[src])
            acc[dst] = new
            out[dst] = new.astype(np.int8)
            continue
        for d, s in zip(dst.tolist(), src.tolist(), strict=True):  # ordered path
            new = alu_apply(op, acc[d], acc[s])
            acc[d] = new
            out[d] = new.astype(np.int8)


def execute(st: SramState, dram: np.ndarray, insn: Insn, where: Where) -> None:
    """Run one instruction's data work (FINISH does none)."""
    if isinstance(insn, MemInsn):
        if insn.opcode == Opcode.STORE:
            store(st, dram, insn, where)
        else:
            load(st, dram, insn, where)
    elif isinstance(insn, GemmInsn):
        gemm(st, insn, where)
    elif isinstance(insn, AluInsn):
        alu(st, insn, where)
