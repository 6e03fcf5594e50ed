"""The micro-op kernel cache of the code generator.

Micro-op kernels live in the micro-op SRAM between instructions. `UopCache` decides where a
kernel goes and whether it must be loaded: a kernel already resident (same micro-ops) is reused
without a `LOAD UOP`; a new one is placed after the last (FIFO), wrapping to row 0 when it does
not fit, and evicts every resident kernel it overlaps.
"""

from __future__ import annotations

from compiler.vta.nest import VtaPassError


class UopCache:
    """Which micro-op kernels are resident in the micro-op SRAM, and where."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.ptr = 0
        self.resident: dict[tuple, int] = {}

    def lookup(self, key: tuple) -> tuple[int, bool]:
        """(first row, needs loading) for the kernel `key` (its tuple of micro-ops)."""
        if key in self.resident:
            return self.resident[key], False
        n = len(key)
        if n > self.depth:
            raise VtaPassError(
                f"a micro-op kernel of {n} uops exceeds the {self.depth}-row uop SRAM"
            )
        if self.ptr + n > self.depth:
            self.ptr = 0
        lo, hi = self.ptr, self.ptr + n
        self.resident = {
            k: off for k, off in self.resident.items() if off + len(k) <= lo or off >= hi
        }
        self.resident[key] = lo
        self.ptr = hi
        return lo, True
