"""The knob space of the tiled ALU operators (max pool, nearest ×2 upsample) as tuning tasks.

Their schedule is `TileKnobs` (compiler/vta/alu_stream.py): `tile_h` rows of the operator's
`tiled_rows` (output rows of a pool, input rows of an upsample), `tile_c` channel blocks per
tile, `threads` 1 or 2. The raw space is the product

    tile_h ∈ 1..rows  ×  tile_c ∈ 1..channel blocks  ×  threads ∈ {1, 2}

and `check` accepts the points of the operator's own knob space (`maxpool_knob_space`,
`upsample_knob_space`: the tiles of every thread fit the accumulator), else `sram_acc`; two
threads over a single tile are a `duplicate` (the same program as one thread).

`TILE_KINDS` says, per operator kind, how to rebuild the operator from a task's workload, its
knob space, its heuristic, and the NumPy reference every measurement is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compiler.graph.ref.vtac_pool import maxpool_hw
from compiler.tune.space import GridSpace
from compiler.vta import maxpool, upsample
from compiler.vta.alu_stream import TileKnobs
from compiler.vta.maxpool import maxpool_knob_space, maxpool_knobs, maxpool_op
from compiler.vta.upsample import upsample2x_op, upsample_knob_space, upsample_knobs
from hw_sim.config import HwConfig

REASONS = ("sram_acc", "duplicate")


@dataclass(frozen=True)
class TileKind:
    make_op: Callable  # (cfg, workload, name) -> operator
    knob_space: Callable  # (op, cfg) -> list[TileKnobs]: the points that fit
    heuristic: Callable  # (op, cfg) -> TileKnobs
    reference: Callable  # (op, x: int8 NCHW) -> the expected int8 NCHW output
    tile_rows: Callable  # (op, knobs) -> accumulator rows of one tile


def _shape(w: dict) -> tuple[int, int, int, int]:
    return (w["n"], w["c"], w["h"], w["w"])


def _maxpool(cfg: HwConfig, w: dict, name: str):
    return maxpool_op(cfg, _shape(w), tuple(w["kernel"]), tuple(w["strides"]), tuple(w["pads"]),
                      name=name)  # fmt: skip


def _upsample(cfg: HwConfig, w: dict, name: str):
    if w.get("factor", 2) != 2:
        raise ValueError(f"{name}: the accelerator upsamples by 2, not {w['factor']}")
    return upsample2x_op(cfg, _shape(w), name=name)


TILE_KINDS = {
    "maxpool": TileKind(
        _maxpool,
        maxpool_knob_space,
        maxpool_knobs,
        lambda op, x: maxpool_hw(x, 2, op.kernel, op.strides, op.pads),
        maxpool.tile_rows,
    ),
    "upsample2x": TileKind(
        _upsample,
        upsample_knob_space,
        upsample_knobs,
        lambda op, x: x.repeat(2, axis=2).repeat(2, axis=3),
        upsample.tile_rows,
    ),
}


def reference_check(op, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded int8 input (plain NCHW) of `op` and the output the reference computes from it."""
    x = np.random.default_rng(seed).integers(-128, 128, op.shape, dtype=np.int8)
    return x, TILE_KINDS[kind].reference(op, x)


class TileSpace(GridSpace):
    """The knob space of a max pool or ×2 upsample task (see the module docstring)."""

    family = "tile"

    def __init__(self, task) -> None:
        self.task = task
        self.cfg = task.hw
        self.kind = TILE_KINDS[task.kind]
        self.op = task.build_op()
        self._set_axes(
            [
                ("tile_h", tuple(range(1, self.op.tiled_rows + 1))),
                ("tile_c", tuple(range(1, self.op.blocks[1] + 1))),
                ("threads", (1, 2)),
            ]
        )
        self._fits = set(self.kind.knob_space(self.op, self.cfg))

    def knobs(self, point: tuple[int, ...]) -> TileKnobs:
        return TileKnobs(*(vals[i] for (_, vals), i in zip(self.axes, point, strict=True)))

    def point(self, k: TileKnobs) -> tuple[int, ...]:
        return tuple(vals.index(getattr(k, name)) for name, vals in self.axes)

    def tiles(self, k: TileKnobs) -> int:
        (nb, cb), rows = self.op.blocks, self.op.tiled_rows
        return nb * -(-cb // k.tile_c) * -(-rows // k.tile_h)

    def heuristic(self) -> TileKnobs:
        return self.kind.heuristic(self.op, self.cfg)

    def check_knobs(self, k: TileKnobs) -> str | None:
        if k not in self._fits:
            return "sram_acc"
        if k.threads > 1 and self.tiles(k) < 2:
            return "duplicate"
        return None

    def outside(self, values: dict) -> tuple[str, object, tuple] | None:
        """As `GridSpace.outside`; a knob these operators do not have is outside too."""
        extra = next((n for n in values if n not in self.names), None)
        if extra is not None:
            return extra, values[extra], ()
        return super().outside(values)
