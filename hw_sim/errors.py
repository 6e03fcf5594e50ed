"""Errors the simulator raises. Each names the instruction (index and listing) and field at fault.

All derive from `SimError`, so a caller can catch every simulation failure at once; none of them
leaves the process hung, and a failed run never changes the caller's DRAM (`simulate()` works on
a copy unless handed one; a device adopts the new DRAM only after a successful run).
"""

from __future__ import annotations


class SimError(RuntimeError):
    """Base class of every error raised while simulating a program."""


class InvalidInstructionError(SimError):
    """An instruction that decodes but cannot execute (bad memory type, a flag its module lacks)."""

    def __init__(self, index: int, listing: str, problem: str):
        self.index = index
        super().__init__(f"instruction {index} ({listing}): {problem}")


class RangeError(SimError):
    """An SRAM or DRAM access outside its buffer."""

    def __init__(self, index: int, listing: str, fld: str, problem: str):
        self.index = index
        self.field = fld
        super().__init__(f"instruction {index} ({listing}): field {fld}: {problem}")


class SramRangeError(RangeError):
    """An SRAM row index beyond the buffer's depth."""


class DramRangeError(RangeError):
    """A DRAM element beyond the end of the DRAM image."""


class DeadlockError(SimError):
    """No module can make progress and FINISH has not run.

    `blocked` maps each module name to a description of what it waits for; `tokens` holds the
    token counters at the deadlock (pushed and not yet popped).
    """

    def __init__(self, message: str, blocked: dict[str, str], tokens: dict[str, int]):
        self.blocked = blocked
        self.tokens = tokens
        super().__init__(message)


class PendingAtFinishError(SimError):
    """FINISH ended the run while other instructions had not started or were still running."""

    def __init__(self, message: str, pending: list[int]):
        self.pending = pending
        super().__init__(message)


class NoFinishError(SimError):
    """Every instruction ran but none was FINISH: the run never ends."""


class WatchdogError(SimError):
    """The run exceeded its cycle budget (`max_cycles`)."""

    def __init__(self, message: str, cycle: int, index: int | None):
        self.cycle = cycle
        self.index = index
        super().__init__(message)


class WallClockTimeoutError(SimError):
    """The run exceeded its wall-clock budget (`timeout` seconds, `--timeout`), beside the cycle
    watchdog: a legal program can be slow to simulate without being long in cycles."""

    def __init__(self, message: str, seconds: float, index: int | None, cycle: int | None):
        self.seconds = seconds
        self.index = index
        self.cycle = cycle
        super().__init__(message)


class TokenOverflowError(SimError):
    """More than the counter maximum (255) dependency tokens were outstanding on one queue."""
