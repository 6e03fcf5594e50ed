"""Nearest-neighbour ×2 upsampling on the accelerator: out[y, x] = in[y // 2, x // 2], int8.

    op = upsample2x_op(cfg, (1, 64, 20, 20))
    k = build_upsample2x(op, cfg)                  # knobs: upsample_knobs(op, cfg) by default
    y, stats = k.run(get_device("hw_sim", cfg), data=x)

Can it be a strided store or load alone? Not usefully (vta-isa.md §2.2): LOAD and STORE move
`y_size` rows of `x_size` *contiguous* elements, with a DRAM pitch `x_stride` between rows and
dense SRAM rows. Duplicating along y is a pitch trick (the same SRAM rows stored twice, to output
rows 2y and 2y + 1: two STOREs with `x_stride = 2 · out row`), but duplicating along x would
need an element stride inside a row — a row of `x_size = 1` per element, i.e. one DMA row, and
so one DRAM latency (`DRAM_LATENCY` cycles in the timing model), per output element; a LOAD with
`x_pad_1 = 1` and one-element rows interleaves zeros the same way, at the same per-element cost.
So x is duplicated in the accumulator by the ALU instead, and y by the store pitch:

1. LOAD ACC_8BIT the tile's input rows (contiguous; one instruction for all its channel blocks);
2. `ubuf = -128` (MIN, MAX immediates), then two ALU MAX (tensor): `ubuf[r, 2x + dx] =
   max(ubuf[r, 2x + dx], in[r, x])` for dx = 0, 1 (destination factor 2) — a copy, as every
   int8 value is >= -128, and it leaves every stored row last written by the ALU (VTA's OUT
   rule);
3. two STOREs per channel block: the 2W-element rows to output rows 2r and 2r + 1.

ALU cost per input element: 2·2 immediate micro-ops (one cycle each) + 2 tensor micro-ops (two
cycles each) = 8 cycles; DMA: one 16-byte element in, four out. Knobs: `tile_h` input rows,
`tile_c` channel blocks per tile, `threads` (two halves of the accumulator alternate).
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.te.ops import layout
from compiler.vta.alu_stream import AluStream, DriverFields, TileKnobs, build_tiled
from hw_sim.config import HwConfig
from hw_sim.isa import AluOp, MemType


@dataclass
class Upsample2xOp(DriverFields):
    """Nearest ×2 upsampling of a blocked int8 tensor [N/bt, C/bo, H, W, bt, bo]."""

    name: str
    shape: tuple[int, int, int, int]
    blocks: tuple[int, int]
    kind: str = "upsample2x"

    @property
    def workload(self) -> dict:
        n, c, h, w = self.shape
        return dict(n=n, c=c, h=h, w=w, factor=2)

    @property
    def tiled_rows(self) -> int:
        """The extent `tile_h` splits: input rows."""
        return self.shape[2]


def upsample2x_op(cfg: HwConfig, shape: tuple[int, int, int, int], name: str = "upsample"):
    n, c, _, _ = shape
    bt, bo = cfg.batch, cfg.block_out
    op = Upsample2xOp(name, tuple(shape), (-(-n // bt), -(-c // bo)))
    op.pack["data"] = lambda x: {"data": layout.pack_nchw(x, bt, bo)}
    op.unpack = lambda y: layout.unpack_nchw(y, n, c)
    return op


UpsampleKnobs = TileKnobs  # tile_h input rows, tile_c channel blocks, threads


def tile_rows(op: Upsample2xOp, k: UpsampleKnobs) -> int:
    w = op.shape[3]
    return k.tile_c * min(k.tile_h, op.shape[2]) * 3 * w


def upsample_knob_space(op: Upsample2xOp, cfg: HwConfig) -> list[UpsampleKnobs]:
    (_, cb), h = op.blocks, op.shape[2]
    return [k for th in range(1, h + 1) for tc in range(1, cb + 1) for t in (1, 2)
            if t * tile_rows(op, k := UpsampleKnobs(th, tc, t)) <= cfg.acc_depth]  # fmt: skip


def upsample_knobs(op: Upsample2xOp, cfg: HwConfig) -> UpsampleKnobs:
    """Two threads when there are two tiles, then the largest tile."""
    (nb, cb), h = op.blocks, op.shape[2]
    best, best_key = None, None
    for k in upsample_knob_space(op, cfg):
        tiles = nb * -(-cb // k.tile_c) * -(-h // k.tile_h)
        key = (k.threads == 1 or tiles >= 2, k.threads if tiles >= 2 else -k.threads,
               k.tile_h * k.tile_c, k.tile_h)  # fmt: skip
        if best_key is None or key > best_key:
            best, best_key = k, key
    if best is None:
        raise ValueError(f"{op.name}: one input row of one channel block needs {3 * op.shape[3]} "
                         f"accumulator rows, the SRAM has {cfg.acc_depth}")  # fmt: skip
    return best


class _Gen(AluStream):
    def __init__(self, op: Upsample2xOp, cfg: HwConfig, knobs: UpsampleKnobs):
        super().__init__(cfg)
        self.op, self.k = op, knobs
        (nb, cb), (_, _, h, w) = op.blocks, op.shape
        bt, bo = cfg.batch, cfg.block_out
        self.data = self.b.buffer("data", shape=(nb, cb, h, w, bt, bo), dtype="int8")
        self.out = self.b.buffer("out", shape=(nb, cb, 2 * h, 2 * w, bt, bo), dtype="int8")

    def tile(self, bn: int, c0: int, tc: int, r0: int, r: int, base: int) -> None:
        cfg, (_, cb), (_, _, h, w) = self.cfg, self.op.blocks, self.op.shape
        inb = [base + i * r * w for i in range(tc)]
        ub = [base + tc * r * w + i * r * 2 * w for i in range(tc)]
        src = self.data.elem(cfg, MemType.ACC_8BIT) + ((bn * cb + c0) * h + r0) * w
        self.load_int8(inb, src, h * w, r * w)
        self.reset(ub, r, 2 * w)  # zero, then each element is written once: ADD copies
        for dx in (0, 1):
            uops = [(ub[i] + dx, inb[i]) for i in range(tc)]
            self.alu(AluOp.ADD, uops, r, w, 2 * w, 2, w, 1)
        out = self.out.elem(cfg, MemType.OUT)
        for i in range(tc):
            plane = (bn * cb + c0 + i) * 2 * h
            for dy in (0, 1):
                self.store(ub[i], out + (plane + 2 * r0 + dy) * 2 * w, r, 2 * w, 4 * w)

    def run(self, meta: dict):
        return self.run_tiles(self.op.blocks, self.op.tiled_rows, self.k, meta)


def build_upsample2x(op: Upsample2xOp, cfg: HwConfig, knobs: UpsampleKnobs | None = None):
    return build_tiled(op, cfg, knobs or upsample_knobs(op, cfg), _Gen, tile_rows)
