"""Pass `allocate_sram`: place every accelerator buffer at rows of its SRAM.

Each `Allocate` in scope vta.inp / vta.wgt / vta.acc gets a disjoint row range in its SRAM (a
buffer's rows are all its dims but the two element dims, which must equal the scope's element
shape). The buffer is replaced by one whose `elem_offset` is its first row. A buffer that does
not fit raises `SramOverflowError` naming it, the rows needed and the rows available.
"""

from __future__ import annotations

from compiler.tir.nodes import Allocate, Buffer, PrimFunc
from compiler.tir.visit import walk
from compiler.vta.intrin import SCOPES, scope_depth, scope_elem
from compiler.vta.nest import ReplaceBuffers, VtaPassError, rows_of
from hw_sim.config import HwConfig


class SramOverflowError(VtaPassError):
    """A tile does not fit its SRAM."""


def allocate_sram(func: PrimFunc, cfg: HwConfig) -> PrimFunc:
    top = dict.fromkeys(SCOPES, 0)
    mapping: dict[Buffer, Buffer] = {}
    for node in walk(func.body):
        if not isinstance(node, Allocate) or node.buffer.scope not in SCOPES:
            continue
        b = node.buffer
        scope = b.scope
        elem = scope_elem(cfg, scope)
        if tuple(int(s) for s in b.shape[-2:]) != elem:
            raise VtaPassError(
                f"buffer {b.name} in {scope}: element dims {list(b.shape[-2:])} "
                f"must be {list(elem)}"
            )
        rows = rows_of(b)
        depth = scope_depth(cfg, scope)
        if top[scope] + rows > depth:
            raise SramOverflowError(
                f"buffer {b.name} does not fit {scope}: needs {rows} rows at row {top[scope]} "
                f"({top[scope] + rows} rows in use) but {scope} has {depth} rows"
            )
        mapping[b] = Buffer(b.name, b.shape, b.dtype, scope, b.strides, top[scope])
        top[scope] += rows
    body = ReplaceBuffers(mapping).visit(func.body)
    attrs = tuple(a for a in func.attrs if a[0] != "sram_rows") + (("sram_rows", dict(top)),)
    return PrimFunc(func.name, func.params, body, attrs)
