"""What differs per task kind, in one place: knob space, knobs type, heuristic, the work a
"utilization" label divides by, and the cost-model feature family.

- family "gemm": conv2d, grouped conv2d (which is also how depthwise convs and average pools
  run: block-diagonal grouped GEMMs, `compiler/graph/depthwise.py`) and dense — `VtaSpace`,
  `vta_gemm.Knobs`, `default_knobs`, closed-form features (`features.py`), useful GEMM micro-ops;
- family "tile": maxpool and upsample2x — `TileSpace`, `TileKnobs`, the operator's own
  heuristic, stream features (`tile_features.py`), output vectors;
- family "eltwise": elementwise (standalone int8 Add, lone requantize) — `EltwiseSpace`,
  `vta_gemm.Knobs`, `elementwise_knobs`, closed-form features (`eltwise_features.py`), output
  rows.

A cost model (and transfer learning) only ever sees rows of one family: the feature vectors of
the two families differ in length and meaning.
"""

from __future__ import annotations

import json

from compiler.tune.tile_space import TILE_KINDS

FAMILIES = ("gemm", "tile", "eltwise")
ELTWISE = "elementwise"


def family(kind: str) -> str:
    return "tile" if kind in TILE_KINDS else "eltwise" if kind == ELTWISE else "gemm"


def kind_of_key(task_key: str) -> str:
    """The operator kind a records key names ('conv2d' for keys that do not parse)."""
    try:
        return json.loads(task_key).get("kind", "conv2d")
    except (ValueError, AttributeError):
        return "conv2d"


def make_space(task):
    if task.kind in TILE_KINDS:
        from compiler.tune.tile_space import TileSpace

        return TileSpace(task)
    if task.kind == ELTWISE:
        from compiler.tune.eltwise_space import EltwiseSpace

        return EltwiseSpace(task)
    from compiler.tune.space import VtaSpace

    return VtaSpace(task)


def knobs_from_dict(kind: str, d: dict):
    """A record's knobs as the schedule type of `kind`."""
    if kind in TILE_KINDS:
        from dataclasses import fields

        from compiler.vta.alu_stream import TileKnobs

        names = {f.name for f in fields(TileKnobs)}
        return TileKnobs(**{k: int(v) for k, v in d.items() if k in names})
    from compiler.schedule.vta_gemm import Knobs

    return Knobs.from_dict(d)


def heuristic_knobs(task):
    """The knobs `compile_model` uses without a record."""
    if task.kind in TILE_KINDS:
        op = task.build_op()
        return TILE_KINDS[task.kind].heuristic(op, task.hw)
    if task.kind == ELTWISE:
        from compiler.vta.elementwise import elementwise_knobs

        return elementwise_knobs(task.build_op(), task.hw)
    from compiler.schedule.vta_heuristic import default_knobs

    return default_knobs(task.build_op(), task.hw)


def useful_work(task) -> int:
    """Knob-free work of the task: useful GEMM micro-ops (gemm), output vectors (tile), output
    rows (eltwise)."""
    if task.kind in TILE_KINDS:
        from compiler.tune.tile_features import useful_vectors

        return useful_vectors(task.build_op())
    if task.kind == ELTWISE:
        from compiler.tune.eltwise_features import output_rows

        return output_rows(task.build_op())
    from compiler.tune.task import useful_gemm_uops

    return useful_gemm_uops(task)


def feature_names(fam: str) -> tuple[str, ...]:
    if fam == "tile":
        from compiler.tune.tile_features import TILE_FEATURE_NAMES

        return TILE_FEATURE_NAMES
    if fam == "eltwise":
        from compiler.tune.eltwise_features import ELTWISE_FEATURE_NAMES

        return ELTWISE_FEATURE_NAMES
    from compiler.tune.features import FEATURE_NAMES

    return FEATURE_NAMES


def stream_row(space, knobs) -> list[float]:
    """The features of `knobs` without the hardware part (`features.hw_features`)."""
    if space.family == "tile":
        from compiler.tune.tile_features import tile_features

        return tile_features(space, knobs)
    if space.family == "eltwise":
        from compiler.tune.eltwise_features import eltwise_features

        return eltwise_features(space, knobs)
    from compiler.tune.features import stream_features

    return stream_features(space, knobs)
