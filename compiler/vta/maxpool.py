"""Max pooling on the accelerator: int8 rows into the accumulator, ALU MAX over windows, int8 out.

    op = maxpool_op(cfg, (1, 64, 56, 56), kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    k = build_maxpool(op, cfg)                      # knobs: maxpool_knobs(op, cfg) by default
    y, stats = k.run(get_device("hw_sim", cfg), data=x)

Per tile (output rows `tile_h` of `tile_c` channel blocks of one batch block), in the
accumulator SRAM:

1. LOAD ACC_8BIT the input rows the tile's windows touch (sign-extended int8, no padding);
2. `hbuf = -128` (ALU MIN then MAX with immediate -128), then for each kernel column dx one ALU
   MAX (tensor-tensor): `hbuf[r, ox] = max(hbuf[r, ox], in[r, ox*sw - pl + dx])` over the
   output columns whose tap lies inside the input (the window is *clamped*, which equals padding
   with the int8 minimum, so the DMA's zero padding is never used);
3. `obuf = -128`, then for each kernel row dy one ALU MAX: `obuf[oy, ox] = max(obuf[oy, ox],
   hbuf[oy*sh - pt + dy, ox])` over the output rows whose tap row is inside the input;
4. STORE obuf (int8: the values are already in [-128, 127]; every stored row was last written
   by an ALU op, as VTA's OUT-buffer rule requires).

Max is separable and clamping is too, so 2-3 give exactly the k×k window maximum with
(kh + kw) MAX micro-op passes instead of kh·kw. Every micro-op is a portable ALU op (MIN, MAX
with immediate or tensor operand; no MUL). Each tap is one ALU instruction with one micro-op
per channel block: two loop levels (rows, columns) with affine row indices.

Why a dedicated generator instead of the TE/schedule path: the tensor-expression lowering
(`compiler/vta/alu_gemm.py`) maps an ALU stage whose operand is read at the *same* index as the
destination (element-wise epilogues); a window tap reads `in[r, ox*s + dx]` — a different,
strided row of another accumulator buffer — and the clamped tap ranges differ per tap, which
the TE passes (in-place aliasing, one SRAM buffer per stage) do not express. The generator emits
the same instructions those passes would, and the same dependency-token pass
(`insert_dep_tokens`) and micro-op cache (`UopCache`) as the TE path's code generator.

Knobs (`MaxPoolKnobs`): `tile_h` output rows per tile, `tile_c` channel blocks per tile,
`threads` 1 or 2 (consecutive tiles alternate between two halves of the accumulator so a
tile's STORE overlaps the next tile's loads and ALU work). `maxpool_knob_space` lists every
valid point for a tuner.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.te.ops import layout
from compiler.vta.alu_stream import (
    MAX_FIELD,
    AluStream,
    DriverFields,
    TileKnobs,
    build_tiled,
)
from hw_sim.config import HwConfig
from hw_sim.isa import AluOp, MemType
from hw_sim.program import Program


@dataclass
class MaxPoolOp(DriverFields):
    """A max pooling operator on the blocked layout [N/bt, C/bo, H, W, bt, bo] (int8)."""

    name: str
    shape: tuple[int, int, int, int]  # plain N, C, H, W
    blocks: tuple[int, int]  # batch blocks, channel blocks
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    out_hw: tuple[int, int]
    kind: str = "maxpool"

    @property
    def workload(self) -> dict:
        n, c, h, w = self.shape
        return dict(n=n, c=c, h=h, w=w, kernel=self.kernel, strides=self.strides, pads=self.pads)

    @property
    def inputs(self) -> list[str]:
        return list(self.pack)

    @property
    def tiled_rows(self) -> int:
        """The extent `tile_h` splits: output rows."""
        return self.out_hw[0]


def maxpool_op(
    cfg: HwConfig,
    shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    name: str = "maxpool",
) -> MaxPoolOp:
    n, c, h, w = shape
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    if min(kh, kw, sh, sw) < 1 or min(pads) < 0 or max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise ValueError(f"{name}: kernel {kernel}, strides {strides}, pads {pads} (each pad "
                         "must be smaller than the kernel)")  # fmt: skip
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{name}: the window {kernel} is larger than the padded input {h}x{w}")
    bt, bo = cfg.batch, cfg.block_out
    nb, cb = -(-n // bt), -(-c // bo)
    op = MaxPoolOp(name, (n, c, h, w), (nb, cb), kernel, strides, pads, (oh, ow))
    op.pack["data"] = lambda x: {"data": layout.pack_nchw(x, bt, bo)}
    op.unpack = lambda y: layout.unpack_nchw(y, n, c)
    return op


MaxPoolKnobs = TileKnobs  # tile_h output rows, tile_c channel blocks, threads


def _in_rows(op: MaxPoolOp, oy0: int, th: int) -> tuple[int, int]:
    """The input rows [lo, hi) the windows of output rows [oy0, oy0 + th) touch."""
    (kh, _), (sh, _), pt, h = op.kernel, op.strides, op.pads[0], op.shape[2]
    return max(0, oy0 * sh - pt), min(h, (oy0 + th - 1) * sh - pt + kh)


def tile_rows(op: MaxPoolOp, knobs: MaxPoolKnobs) -> int:
    """Accumulator rows one tile needs (input, horizontal maxima, output), at most."""
    w, (oh, ow) = op.shape[3], op.out_hw
    th = min(knobs.tile_h, oh)
    r = max(hi - lo for lo, hi in (_in_rows(op, y, th) for y in range(0, oh, th)))
    return knobs.tile_c * (r * w + r * ow + th * ow)


def maxpool_knob_space(op: MaxPoolOp, cfg: HwConfig) -> list[MaxPoolKnobs]:
    """Every knob point whose tiles fit the accumulator (the tuner's search space)."""
    (_, cb), (oh, _) = op.blocks, op.out_hw
    out = []
    for th in range(1, oh + 1):
        for tc in range(1, cb + 1):
            for threads in (1, 2):
                k = MaxPoolKnobs(th, tc, threads)
                if threads * tile_rows(op, k) <= cfg.acc_depth:
                    out.append(k)
    return out


def maxpool_knobs(op: MaxPoolOp, cfg: HwConfig) -> MaxPoolKnobs:
    """Heuristic: the most output rows per tile (the input rows that neighbouring windows share
    are loaded and maximized once per tile: fewer ALU micro-ops), then the most channel blocks
    (fewer instructions), then two threads if that still fits (the store overlaps the next
    tile; loads run on the compute queue, so that is all two threads can overlap)."""
    (nb, cb), (oh, _) = op.blocks, op.out_hw
    best, best_key = None, None
    for k in maxpool_knob_space(op, cfg):
        tiles = nb * -(-cb // k.tile_c) * -(-oh // k.tile_h)
        key = (k.tile_h, k.tile_c, k.threads if tiles >= 2 else -k.threads)
        if best_key is None or key > best_key:
            best, best_key = k, key
    if best is None:
        raise ValueError(
            f"{op.name}: one output row of one channel block needs "
            f"{tile_rows(op, MaxPoolKnobs())} accumulator rows, the SRAM has {cfg.acc_depth}"
        )
    return best


class _Gen(AluStream):
    def __init__(self, op: MaxPoolOp, cfg: HwConfig, knobs: MaxPoolKnobs):
        super().__init__(cfg)
        self.op, self.k = op, knobs
        (nb, cb), (_, _, h, w), (oh, ow) = op.blocks, op.shape, op.out_hw
        bt, bo = cfg.batch, cfg.block_out
        self.data = self.b.buffer("data", shape=(nb, cb, h, w, bt, bo), dtype="int8")
        self.out = self.b.buffer("out", shape=(nb, cb, oh, ow, bt, bo), dtype="int8")

    def _init(self, bases: list[int], rows: int, cols: int, taps: list, full: tuple[int, int]):
        """Prepare a max buffer. With a tap that covers every output (`full` range): zero it
        with a GEMM reset (one cycle a row), move that tap to the front of `taps` and return
        it (it then copies by an ALU ADD); else fill it with -128 (two immediate micro-ops a
        row) and return None."""
        first = next((t for t in taps if t[:2] == full), None)
        if first is None:
            self.fill_min(bases, rows, cols)
        else:
            self.reset(bases, rows, cols)
            taps.remove(first)
            taps.insert(0, first)  # the copy must come before every MAX
        return first

    def tile(self, bn: int, c0: int, tc: int, oy0: int, th: int, base: int) -> None:
        op, cfg = self.op, self.cfg
        (_, cb), (_, _, h, w), (oh, ow) = op.blocks, op.shape, op.out_hw
        (kh, kw), (sh, sw), (pt, pl, _, _) = op.kernel, op.strides, op.pads
        lo, hi = _in_rows(op, oy0, th)
        r = hi - lo
        inb = [base + i * r * w for i in range(tc)]
        hb = [base + tc * r * w + i * r * ow for i in range(tc)]
        ob = [base + tc * r * (w + ow) + i * th * ow for i in range(tc)]
        # 1. input rows, int8 sign-extended into the accumulator
        plane = (bn * cb + c0) * h
        self.load_int8(inb, self.data.elem(cfg, MemType.ACC_8BIT) + (plane + lo) * w, h * w, r * w)
        # 2. horizontal maxima over the clamped taps
        taps = [(max(0, -(-(pl - dx) // sw)), min(ow, (w - 1 + pl - dx) // sw + 1), dx)
                for dx in range(kw)]  # fmt: skip
        first = self._init(hb, r, ow, taps, (0, ow))
        for x_lo, x_hi, dx in taps:
            if x_lo < x_hi:
                uops = [(hb[i] + x_lo, inb[i] + x_lo * sw - pl + dx) for i in range(tc)]
                op = AluOp.ADD if (x_lo, x_hi, dx) == first else AluOp.MAX
                self.alu(op, uops, r, x_hi - x_lo, ow, 1, w, sw)
        # 3. vertical maxima
        taps = [(max(oy0, -(-(pt - dy) // sh)), min(oy0 + th, (h - 1 + pt - dy) // sh + 1), dy)
                for dy in range(kh)]  # fmt: skip
        first = self._init(ob, th, ow, taps, (oy0, oy0 + th))
        for y_lo, y_hi, dy in taps:
            if y_lo < y_hi:
                row = y_lo * sh - pt + dy - lo
                uops = [(ob[i] + (y_lo - oy0) * ow, hb[i] + row * ow) for i in range(tc)]
                op = AluOp.ADD if (y_lo, y_hi, dy) == first else AluOp.MAX
                self.alu(op, uops, y_hi - y_lo, ow, ow, 1, sh * ow, 1)
        # 4. store the int8 result
        dst = self.out.elem(cfg, MemType.OUT) + ((bn * cb + c0) * oh + oy0) * ow
        if tc == 1 or oh * ow <= MAX_FIELD:
            self.store(ob[0], dst, tc, th * ow, oh * ow if tc > 1 else th * ow)
        else:
            for i in range(tc):
                self.store(ob[i], dst + i * oh * ow, 1, th * ow, th * ow)

    def run(self, meta: dict) -> Program:
        return self.run_tiles(self.op.blocks, self.op.tiled_rows, self.k, meta)


def build_maxpool(op: MaxPoolOp, cfg: HwConfig, knobs: MaxPoolKnobs | None = None):
    return build_tiled(op, cfg, knobs or maxpool_knobs(op, cfg), _Gen, tile_rows)
