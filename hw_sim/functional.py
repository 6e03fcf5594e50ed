"""The executable ISA spec: what each instruction does to the SRAMs and DRAM.

One function per opcode (`load`, `store`, `gemm`, `alu`); each docstring holds the instruction's
pseudo-loop, and the body does the same work in bulk with NumPy. The timing of instructions is
not here (see `hw_sim.timing`); the simulator calls these functions in start-cycle order.

Exactness notes
* GEMM products are computed with BLAS in float32 while every sum stays below 2**24 (float64
  beyond), then reduced modulo 2**32 and added with int32 wrap-around, which equals sequential
  accumulation because modular addition is associative (details: `hw_sim.gemm_paths`).
* ALU micro-ops are applied in loop order. The vectorized path is used only when it provably
  matches sequential execution (no destination repeats, and no micro-op reads a row written by an
  earlier one). Otherwise, with an immediate operand, each row gets the op applied as many times
  as the loop writes it, in closed form (`alu_apply_repeated`; the counts come from histograms,
  not from materializing the loop); with a tensor operand a compiled loop runs the micro-ops
  one at a time (`hw_sim.alu_kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hw_sim import alu_kernel, gemm_paths
from hw_sim.config import HwConfig
from hw_sim.disasm import disasm
from hw_sim.errors import DramRangeError, InvalidInstructionError, SramRangeError
from hw_sim.isa import AluInsn, AluOp, GemmInsn, Insn, MemInsn, MemType, Opcode, decode_uops
from hw_sim.program import mem_elem_bytes

# Largest number of micro-ops materialized at once; longer loops run in chunks of outer iterations.
CHUNK_UOPS = 1 << 20

# The three published semantics of VTA's OUT buffer (vta-isa.md §2.7), as `SramState.out_semantics`:
#   chisel  GEMM/ALU micro-ops write OUT (low 8 bits); a GEMM reset zeroes ACC, leaves OUT alone
#   hls     as chisel, but a GEMM reset also writes OUT ("a meaningless value"; modelled as the
#           bitwise complement of each row's OUT before the instruction, so a stored reset row
#           differs from chisel in every lane and a three-way comparison cannot miss it)
#   fsim    no OUT buffer: STORE reads the low 8 bits of ACC (so LOAD ACC and resets show)
# LOAD ACC never writes OUT. The RTL implements chisel, the default.
OUT_SEMANTICS = ("chisel", "hls", "fsim")


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


# Plans depend only on the loop fields and the micro-ops they read (and the config), so they are
# cached across runs, keyed by exactly those; a plan exists only if its range checks passed.
_PLAN_CACHES: dict[HwConfig, dict] = {}
MAX_PLANS = 4096  # bound on cached plans per config (cleared when exceeded)


def _plan_key(st: SramState, insn: GemmInsn | AluInsn) -> tuple:
    """Everything a micro-op loop plan depends on: the loop fields (not the token flags) and the
    content of the micro-op rows it reads."""
    uops = st.uop[insn.uop_bgn : insn.uop_end].tobytes() if insn.uop_end > insn.uop_bgn else b""
    if type(insn) is GemmInsn:
        return (
            True, insn.reset, insn.uop_bgn, insn.uop_end, insn.iter_out, insn.iter_in,
            insn.dst_factor_out, insn.dst_factor_in, insn.src_factor_out, insn.src_factor_in,
            insn.wgt_factor_out, insn.wgt_factor_in, uops,
        )  # fmt: skip
    return (
        False, insn.use_imm, insn.uop_bgn, insn.uop_end, insn.iter_out, insn.iter_in,
        insn.dst_factor_out, insn.dst_factor_in, insn.src_factor_out, insn.src_factor_in, uops,
    )  # fmt: skip


def _cached_plan(st: SramState, insn: GemmInsn | AluInsn, where: Where, make) -> tuple:
    """The plan of a micro-op loop from the cache, made by `make(st, insn, where)` on a miss."""
    key = _plan_key(st, insn)
    plan = st.plans.get(key)
    if plan is None:
        if len(st.plans) >= MAX_PLANS:
            st.plans.clear()
        plan = st.plans[key] = make(st, insn, where)
    return plan


def _by_type(table: dict) -> list:
    """A dict keyed by MemType as a list indexed by it (None where absent)."""
    return [table.get(m) for m in MemType]


class SramState:
    """The on-chip buffers, shaped per config (one row = one element).

    inp (INP_DEPTH, BATCH, BLOCK_IN) int8; wgt (WGT_DEPTH, BLOCK_OUT, BLOCK_IN) int8;
    acc (ACC_DEPTH, BATCH, BLOCK_OUT) int32; out (ACC_DEPTH, BATCH, BLOCK_OUT) int8;
    uop (UOP_DEPTH, 3) int64 decoded micro-ops (dst, src, wgt). `inp_f` and `wgt_f` are float32
    shadows of inp and wgt, kept in sync by `load`, that feed the BLAS product.
    """

    def __init__(self, cfg: HwConfig, out_semantics: str = "chisel"):
        if out_semantics not in OUT_SEMANTICS:
            raise ValueError(
                f"unknown OUT-buffer semantics {out_semantics!r}; use one of "
                + ", ".join(OUT_SEMANTICS)
            )
        self.out_semantics = out_semantics
        self.store_from_acc = out_semantics == "fsim"
        self.reset_writes_out = out_semantics == "hls"
        # (instruction index, bytes stored) per executed STORE when a list (portability check)
        self.store_log: list[tuple[int, np.ndarray]] | None = None
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
        # Plain ints and tables read on every instruction (HwConfig properties are computed).
        self.batch, self.block_in, self.block_out = b, bi, bo
        # Indexed by memory type (lists: an IntEnum index is a C-level lookup, a dict key is not).
        self.elem_bytes = [mem_elem_bytes(cfg, m) for m in MemType]
        self.depth = _by_type(
            {
                MemType.UOP: cfg.uop_depth,
                MemType.INP: cfg.inp_depth,
                MemType.WGT: cfg.wgt_depth,
                MemType.ACC: cfg.acc_depth,
                MemType.ACC_8BIT: cfg.acc_depth,
                MemType.OUT: cfg.out_depth,
            }
        )
        # LOAD destination per memory type: (DRAM view dtype, SRAM arrays, SRAM row shape)
        self.load_targets = _by_type(
            {
                MemType.UOP: ("<u4", (self.uop,), (3,)),
                MemType.INP: ("|i1", (self.inp, self.inp_f), (b, bi)),
                MemType.WGT: ("|i1", (self.wgt, self.wgt_f), (bo, bi)),
                MemType.ACC: ("<i4", (self.acc,), (b, bo)),
                MemType.ACC_8BIT: ("|i1", (self.acc,), (b, bo)),
            }
        )
        # Micro-op loop plans (index arrays, range checks passed), shared by every run at this
        # config: see `_plan_key`.
        self.plans = _PLAN_CACHES.setdefault(cfg, {})


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
    if stride > x and start + y * stride * eb <= dram.size:
        return dram[start : start + y * stride * eb].reshape(y, stride * eb)[:, : x * eb]
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
    mt = insn.mem_type
    target = st.load_targets[mt]
    if target is None:
        raise where.invalid("LOAD cannot target OUT (OUT is written by GEMM/ALU, read by STORE)")
    view, arrays, row_shape = target
    y0, y1, x0, x1 = insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1
    padded = y0 or y1 or x0 or x1
    y, x = insn.y_size, insn.x_size
    rows_y, cols = y0 + y + y1, x0 + x + x1
    base, n = insn.sram_base, rows_y * cols
    if base + n > st.depth[mt]:
        _check_sram(where, mt.name, base, n, st.depth[mt], "sram_base")
    raw = _dram_rows_or_empty(dram, insn, st.elem_bytes[mt], where)
    if mt == MemType.UOP:
        if padded:
            raise where.invalid(
                f"UOP loads cannot be padded, got pad(y0,y1,x0,x1)={(y0, y1, x0, x1)}"
            )
        words = np.ascontiguousarray(raw).view("<u4").reshape(-1)
        st.uop[base : base + n] = decode_uops(words, st.cfg)
        return
    data = (raw if view == "|i1" else np.ascontiguousarray(raw)).view(view)
    first = arrays[0]
    if not padded:
        first[base : base + n] = data.reshape((n,) + row_shape)
    else:
        block = first[base : base + n].reshape((rows_y, cols) + row_shape)
        block[...] = 0
        block[y0 : y0 + y, x0 : x0 + x] = data.reshape((y, x) + row_shape)
    for shadow in arrays[1:]:  # float32 copies feeding the GEMM
        shadow[base : base + n] = first[base : base + n].reshape((n,) + shadow.shape[1:])


def _dram_rows_or_empty(dram: np.ndarray, insn: MemInsn, eb: int, where: Where) -> np.ndarray:
    if insn.y_size == 0:  # only padding rows: nothing read from DRAM
        return np.zeros((0, insn.x_size * eb), np.uint8)
    return _dram_rows(dram, insn, eb, where)


def store_moves_data(insn: MemInsn, where: Where) -> bool:
    """The field checks of a STORE, in order (`InvalidInstructionError`); False when it moves
    nothing (a NOP, or no rows). Shared with `hw_sim.stream_checks`."""
    if insn.x_size == 0:
        return False
    if insn.mem_type != MemType.OUT:
        raise where.invalid(f"STORE must target OUT, got {insn.mem_type.name}")
    pads = (insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1)
    if any(pads):
        raise where.invalid(f"STORE cannot be padded, got pad(y0,y1,x0,x1)={pads}")
    return insn.y_size != 0


def store(st: SramState, dram: np.ndarray, insn: MemInsn, where: Where) -> None:
    """STORE OUT rows to DRAM (the low 8 bits GEMM/ALU last wrote there).

        for y < y_size, x < x_size:
            DRAM[dram_base + y*x_stride + x] = OUT[sram_base + y*x_size + x]
                                    (fsim semantics: low 8 bits of ACC[sram_base + ...])

    Only OUT can be stored, and STORE has no padding. `x_size == 0` is a NOP.
    """
    if not store_moves_data(insn, where):
        return
    y, x = insn.y_size, insn.x_size
    _check_sram(where, "OUT", insn.sram_base, y * x, st.depth[MemType.OUT], "sram_base")
    eb = st.elem_bytes[MemType.OUT]
    _dram_rows(dram, insn, eb, where)  # range check
    rows = slice(insn.sram_base, insn.sram_base + y * x)
    out = st.acc[rows].astype(np.int8) if st.store_from_acc else st.out[rows]
    src = out.reshape(y, x * eb).view(np.uint8)
    if st.store_log is not None:
        st.store_log.append((where.index, src.copy()))
    start = insn.dram_base * eb
    if insn.x_stride == x or y == 1:
        dram[start : start + y * x * eb] = src.reshape(-1)
    elif insn.x_stride > x and start + y * insn.x_stride * eb <= dram.size:
        dram[start : start + y * insn.x_stride * eb].reshape(y, -1)[:, : x * eb] = src
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


def _without_repeats(insn: GemmInsn) -> tuple[GemmInsn, int]:
    """(the loop with repeating levels run once, how many times each product is added).

    A level whose dst, src and wgt factors are all 0 repeats the same micro-ops: its products
    are added `iter` times (one multiplication modulo 2**32 instead of `iter` products); under
    reset any level with dst factor 0 only rewrites the same zeros."""
    mult, fields = 1, {}
    for level in ("out", "in"):
        iters = getattr(insn, f"iter_{level}")
        moves = (
            getattr(insn, f"dst_factor_{level}") != 0
            or not insn.reset
            and (
                getattr(insn, f"src_factor_{level}") != 0
                or getattr(insn, f"wgt_factor_{level}") != 0
            )
        )
        if iters > 1 and not moves:
            mult *= iters
            fields[f"iter_{level}"] = 1
    return (replace(insn, **fields) if fields else insn), (1 if insn.reset else mult)


def _gemm_plan(st: SramState, insn: GemmInsn, where: Where) -> tuple:
    uops = _check_loop(st, insn, where)
    if insn.n_uops == 0:
        return ("none",)
    insn, mult = _without_repeats(insn)
    if insn.n_uops > CHUNK_UOPS:
        return ("chunked", uops.copy(), insn, mult)
    if insn.reset:
        return ("reset", next(_loop_chunks(insn, uops, (0,)))[0])
    plan = gemm_paths.factored_plan(st, insn, uops) if mult == 1 else None
    if plan is not None:
        return plan
    return ("generic", *next(_loop_chunks(insn, uops, (0, 1, 2))), mult)


def gemm(st: SramState, insn: GemmInsn, where: Where) -> None:
    """GEMM over a two-level micro-op loop.

        for o < iter_out, i < iter_in, u in uop_bgn..uop_end-1:
            d = UOP[u].dst + o*dst_factor_out + i*dst_factor_in
            s = UOP[u].src + o*src_factor_out + i*src_factor_in
            w = UOP[u].wgt + o*wgt_factor_out + i*wgt_factor_in
            if reset: ACC[d] = 0                       (OUT unchanged; hls: OUT[d] = ~OUT[d])
            else:     ACC[d] += INP[s] . WGT[w]^T      (int32 wrap-around)
                      OUT[d] = low 8 bits of ACC[d]

    The index work (and range checks) of a loop is planned once per loop shape and micro-op
    content (`_plan_key`); only the data work runs each time.
    """
    plan = _cached_plan(st, insn, where, _gemm_plan)
    kind = plan[0]
    if kind == "factored":
        gemm_paths.run_factored(st, plan)
    elif kind == "generic":
        products = gemm_paths.gemm_products(st, plan[2], plan[3])
        gemm_paths.accumulate(st, plan[1], products, times=plan[4])
    elif kind == "reset":
        _reset(st, plan[1])
    elif kind == "chunked":
        loop, mult = plan[2], plan[3]
        if loop.reset and st.reset_writes_out:  # complement each row once per instruction
            dst = np.unique(np.concatenate([c[0] for c in _loop_chunks(loop, plan[1], (0,))]))
            _reset(st, dst)
            return
        for dst, src, wgt in _loop_chunks(loop, plan[1], (0, 1, 2)):
            if loop.reset:
                st.acc[dst] = 0
            else:
                products = gemm_paths.gemm_products(st, src, wgt)
                gemm_paths.accumulate(st, dst, products, times=mult)


def _reset(st: SramState, dst) -> None:
    """ACC[dst] = 0; under hls semantics OUT[dst] also changes (to the complement of its value
    before the instruction, once per row even if a row repeats)."""
    st.acc[dst] = 0
    if st.reset_writes_out:
        st.out[dst] = ~st.out[dst]


# ----- ALU ----------------------------------------------------------------------------------


def alu_apply(op: AluOp, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """op(a, b) on int32 lanes with the hardware's semantics; returns a new int32 array.

    MIN/MAX signed; ADD/MUL wrap to 32 bits; SHR by b >= 0 is arithmetic (b >= 32 gives the sign
    bits), by b < 0 a left shift by -b (-b >= 32 gives 0).
    """
    a32 = np.asarray(a, dtype=np.int32)
    b32 = np.int32(b) if isinstance(b, int) else np.asarray(b, dtype=np.int32)
    if op == AluOp.MIN:
        return np.minimum(a32, b32)
    if op == AluOp.MAX:
        return np.maximum(a32, b32)
    if op == AluOp.ADD:  # NumPy's int32 array arithmetic wraps modulo 2**32
        return np.add(a32, b32, dtype=np.int32)
    if op == AluOp.MUL:
        return np.multiply(a32, b32, dtype=np.int32)
    if op == AluOp.SHR:
        a64, b64 = a32.astype(np.int64), np.asarray(b32, dtype=np.int64)
        right = a64 >> np.clip(b64, 0, 31)
        left_amount = np.clip(-b64, 0, 32).astype(np.uint64)
        left = ((a64.astype(np.uint64) << left_amount) & np.uint64(0xFFFFFFFF)).astype(np.int64)
        return np.where(b64 >= 0, right, left).astype(np.int32)
    raise ValueError(f"unknown ALU op {op!r}")


def alu_apply_repeated(op: AluOp, a: np.ndarray, imm: int, counts: np.ndarray) -> np.ndarray:
    """`op(., imm)` applied `counts[r]` >= 1 times to row r of `a` (rows along axis 0), closed form.

    MIN/MAX are idempotent; ADD adds counts*imm and MUL multiplies by imm**counts (both modulo
    2**32); shifts compose (an arithmetic right shift by x then y is one by min(x+y, 31), a left
    shift by x then y one by x+y, 0 from 32 on). Equal to applying `alu_apply` counts times.
    """
    c = np.asarray(counts, dtype=np.int64).reshape((-1,) + (1,) * (a.ndim - 1))
    if op in (AluOp.MIN, AluOp.MAX):
        return alu_apply(op, a, imm)
    if op == AluOp.ADD:
        return alu_apply(op, a, (c * imm).astype(np.int32))  # |c*imm| < 2**63; wraps to int32
    if op == AluOp.MUL:
        powers = {int(k): pow(imm, int(k), 1 << 32) for k in np.unique(c)}
        factor = np.vectorize(powers.__getitem__, otypes=[np.int64])(c)
        return alu_apply(op, a, factor.astype(np.uint32).astype(np.int32))
    if op == AluOp.SHR:
        return alu_apply(op, a, np.clip(c * imm, -32, 31).astype(np.int32))
    raise ValueError(f"unknown ALU op {op!r}")


def _level_histogram(iters: int, factor: int) -> np.ndarray:
    """h[x] = how many i < iters have i*factor == x."""
    if factor == 0:
        return np.array([iters], np.int64)
    h = np.zeros((iters - 1) * factor + 1, np.int64)
    h[::factor] = 1
    return h


def _dst_counts(insn: AluInsn, uops: np.ndarray) -> np.ndarray:
    """counts[d] = how many (o, i, u) of the loop write row d, without materializing the loop:
    the histogram of the micro-ops' dst convolved with those of the two levels' offsets (the
    range checks bound every index by the buffer depth, so this costs at most depth**2)."""
    h = np.bincount(uops[:, 0], minlength=1).astype(np.int64)
    for iters, factor in ((insn.iter_out, insn.dst_factor_out), (insn.iter_in, insn.dst_factor_in)):
        h = np.convolve(h, _level_histogram(iters, factor))
    return h


def _reads_earlier_write(dst: np.ndarray, src: np.ndarray, depth: int) -> bool:
    """True if some micro-op k reads a row that an earlier micro-op j < k writes."""
    first_write = np.full(depth, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first_write, dst, np.arange(len(dst), dtype=np.int64))
    return bool((first_write[src] < np.arange(len(src))).any())


def _alu_plan(st: SramState, insn: AluInsn, where: Where) -> tuple:
    uops = _check_loop(st, insn, where)
    if insn.n_uops == 0:
        return ("none",)
    if insn.use_imm:
        # Rows are independent under an immediate: each ends as op applied count times.
        counts = _dst_counts(insn, uops)
        rows = np.flatnonzero(counts)
        if (counts[rows] == 1).all():
            return ("imm", gemm_paths.as_slice(rows))
        return ("imm_counts", rows, counts[rows])
    if insn.n_uops > CHUNK_UOPS:
        return ("chunked", uops.copy(), np.flatnonzero(_dst_counts(insn, uops)))
    dst, src = next(_loop_chunks(insn, uops, (0, 1)))
    return _alu_chunk_plan(st, insn, dst, src)


def _alu_chunk_plan(st: SramState, insn: AluInsn, dst: np.ndarray, src: np.ndarray) -> tuple:
    """A tensor-operand loop: one vectorized update when no destination repeats and no micro-op
    reads a row an earlier one wrote, else the compiled sequential loop. Linear in the loop."""
    seen = np.bincount(dst, minlength=st.cfg.acc_depth)
    if (seen > 1).any() or _reads_earlier_write(dst, src, st.cfg.acc_depth):
        return ("ordered", dst, src, np.flatnonzero(seen))
    return ("tensor", gemm_paths.as_slice(dst), gemm_paths.as_slice(src))


def _run_alu(st: SramState, insn: AluInsn, plan: tuple) -> None:
    acc, out, op = st.acc, st.out, insn.alu_op
    kind = plan[0]
    if kind == "imm":
        d = plan[1]
        new = alu_apply(op, acc[d], insn.imm)
        acc[d] = new
        out[d] = new.astype(np.int8)
    elif kind == "imm_counts":
        d = plan[1]
        new = alu_apply_repeated(op, acc[d], insn.imm, plan[2])
        acc[d] = new
        out[d] = new.astype(np.int8)
    elif kind == "tensor":
        d, s = plan[1], plan[2]
        new = alu_apply(op, acc[d], acc[s])
        acc[d] = new
        out[d] = new.astype(np.int8)
    elif kind == "ordered":  # one micro-op at a time, in machine code
        alu_kernel.run_sequential(acc, op, plan[1], plan[2], None)
        out[plan[3]] = acc[plan[3]].astype(np.int8)


def alu(st: SramState, insn: AluInsn, where: Where) -> None:
    """ALU over a two-level micro-op loop (src indexes ACC; the uop's wgt field is unused).

    for o < iter_out, i < iter_in, u in uop_bgn..uop_end-1:
        d = UOP[u].dst + o*dst_factor_out + i*dst_factor_in
        s = UOP[u].src + o*src_factor_out + i*src_factor_in
        ACC[d] = op(ACC[d], imm if use_imm else ACC[s])     (per lane, int32)
        OUT[d] = low 8 bits of ACC[d]
    """
    plan = _cached_plan(st, insn, where, _alu_plan)
    if plan[0] == "chunked":  # too long to materialize: the compiled loop walks it itself
        uops = plan[1]
        factors = (insn.dst_factor_out, insn.dst_factor_in, insn.src_factor_out,
                   insn.src_factor_in)  # fmt: skip
        alu_kernel.run_loop(st.acc, insn.alu_op, uops[:, 0], uops[:, 1], insn.iter_out,
                            insn.iter_in, factors, None)  # fmt: skip
        touched = plan[2]
        st.out[touched] = st.acc[touched].astype(np.int8)
    else:
        _run_alu(st, insn, plan)


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
