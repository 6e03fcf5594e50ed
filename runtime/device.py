"""Devices that run accelerator programs: allocate DRAM buffers, copy NumPy arrays in and out,
run, and read the run's statistics.

    dev = get_device("hw_sim", cfg)
    dev.load(program)                 # the program's DRAM image becomes the device DRAM
    dev.write("x", x)                 # shape and dtype must match the buffer
    stats = dev.run()                 # RunStats (same counters on every device)
    y = dev.read("out")

`HwSimDevice` runs the Python simulator. Other devices (the Verilated RTL) subclass `Device` and
implement `_execute`; `get_device` finds them by name through `DEVICE_MODULES`, importing lazily
so that a device's heavy dependencies load only when it is used.
"""

from __future__ import annotations

import importlib

import numpy as np

from hw_sim.config import HwConfig
from hw_sim.program import DramBuffer, Program, dram_alignment
from hw_sim.stats import RunStats


class DeviceError(RuntimeError):
    """Misuse of a device: no program loaded, unknown buffer, wrong shape or dtype..."""


class Device:
    """Base class: DRAM and buffer bookkeeping shared by every device."""

    name = "device"

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self.program: Program | None = None
        self.dram = np.zeros(0, np.uint8)
        self.buffers: dict[str, DramBuffer] = {}
        self.stats: RunStats | None = None

    # ----- program and DRAM -------------------------------------------------------------------
    def load(self, program: Program) -> None:
        """Make `program` current; its DRAM image (weights, micro-ops, zeroed buffers) becomes
        the device DRAM."""
        if program.cfg.fingerprint != self.cfg.fingerprint:
            raise DeviceError(
                f"{self.name}: program built for hardware config {program.cfg.name!r} "
                f"({program.cfg.bitstream_name}), device has {self.cfg.name!r} "
                f"({self.cfg.bitstream_name})"
            )
        self.program = program
        self.dram = program.dram.copy()
        self.buffers = dict(program.buffers)
        self.stats = None

    def alloc(self, name: str, shape: tuple[int, ...], dtype: str | np.dtype) -> DramBuffer:
        """Add a zero-filled buffer at the end of DRAM (aligned for every memory type)."""
        if name in self.buffers:
            raise DeviceError(f"{self.name}: DRAM buffer {name!r} already exists")
        align = dram_alignment(self.cfg)
        offset = -(-self.dram.size // align) * align
        buf = DramBuffer(name, offset, tuple(int(s) for s in shape), np.dtype(dtype).str)
        grown = np.zeros(offset + -(-max(buf.nbytes, 1) // align) * align, np.uint8)
        grown[: self.dram.size] = self.dram
        self.dram = grown
        self.buffers[name] = buf
        return buf

    def _buffer(self, name: str) -> DramBuffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise DeviceError(
                f"{self.name}: no DRAM buffer {name!r}; buffers: "
                + (", ".join(self.buffers) or "none (load a program first)")
            ) from None

    def write(self, name: str, array: np.ndarray) -> None:
        """Copy `array` into buffer `name`; its shape and dtype must match the buffer exactly."""
        buf = self._buffer(name)
        arr = np.asarray(array)
        if arr.shape != buf.shape or arr.dtype != np.dtype(buf.dtype):
            raise DeviceError(
                f"{self.name}: buffer {name!r} holds {buf.shape} {np.dtype(buf.dtype)}, "
                f"got {arr.shape} {arr.dtype}"
            )
        self.dram[buf.offset : buf.offset + buf.nbytes] = (
            np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
        )

    def read(self, name: str) -> np.ndarray:
        """A copy of buffer `name` as an array of its shape and dtype."""
        buf = self._buffer(name)
        raw = self.dram[buf.offset : buf.offset + buf.nbytes]
        return raw.copy().view(buf.dtype).reshape(buf.shape)

    # ----- running ------------------------------------------------------------------------------
    def run(
        self,
        program: Program | None = None,
        max_cycles: int | None = None,
        timeout: float | None = None,
        check_races: bool | None = None,
    ) -> RunStats:
        """Run the current program (or first `load(program)`), to FINISH; returns its stats.

        `max_cycles` is the cycle watchdog (`WatchdogError`), `timeout` a wall-clock limit in
        seconds (`WallClockTimeoutError`). `check_races` (default: `VTAC_CHECK_RACES=1`) raises
        `hw_sim.races.RaceError` when SRAM accesses of different modules are not ordered by
        tokens (from this device's own start cycles). The run works on a copy of DRAM that
        replaces the device DRAM only if it succeeds, so a failed run (deadlock, range error,
        watchdog, timeout, race) leaves the device as it was.
        """
        if timeout is not None and not timeout > 0:
            raise DeviceError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if program is not None:
            self.load(program)
        if self.program is None:
            raise DeviceError(f"{self.name}: no program loaded")
        dram = self.dram.copy()
        stats = self._execute(self.program, dram, max_cycles, timeout)
        from hw_sim.races import find_races, race_error, races_checked_by_default

        if races_checked_by_default() if check_races is None else check_races:
            races = find_races(self.program, self._start_cycles(), self.dram)
            if races:
                raise race_error(self.program, races)
        self.dram = dram
        self.stats = stats
        return stats

    def execute(
        self,
        program: Program,
        dram: np.ndarray,
        max_cycles: int | None = None,
        timeout: float | None = None,
        check_races: bool | None = None,
    ) -> RunStats:
        """Run `program` on caller-owned `dram` (uint8, updated in place) and return its stats:
        how a linked model's launches share one DRAM image. The device's own DRAM and loaded
        program are left alone. Limits and the race check as for `run`."""
        if program.cfg.fingerprint != self.cfg.fingerprint:
            raise DeviceError(
                f"{self.name}: program built for hardware config {program.cfg.name!r}, device "
                f"has {self.cfg.name!r}"
            )
        from hw_sim.races import find_races, race_error, races_checked_by_default

        races = races_checked_by_default() if check_races is None else check_races
        before = dram.copy() if races else None
        self.stats = self._execute(program, dram, max_cycles, timeout)
        if races:
            found = find_races(program, self._start_cycles(), before)
            if found:
                raise race_error(program, found)
        return self.stats

    def _execute(
        self, program: Program, dram: np.ndarray, max_cycles: int | None, timeout: float | None
    ) -> RunStats:
        """Run `program` on `dram` (uint8, update in place); return the run's counters."""
        raise NotImplementedError

    def _start_cycles(self) -> list[int]:
        """Each instruction's start cycle in the last run (-1 = never started)."""
        raise NotImplementedError


class HwSimDevice(Device):
    """The Python cycle-level simulator (`hw_sim`). `last_result` keeps the schedule and SRAMs
    of the last run (for traces and debugging). `out_semantics` (chisel, hls or fsim; see
    `hw_sim.functional.OUT_SEMANTICS`) picks which VTA implementation's OUT buffer it models."""

    name = "hw_sim"

    def __init__(self, cfg: HwConfig, out_semantics: str = "chisel"):
        super().__init__(cfg)
        self.last_result = None
        self.out_semantics = out_semantics

    def _execute(
        self, program: Program, dram: np.ndarray, max_cycles: int | None, timeout: float | None
    ) -> RunStats:
        from hw_sim.simulator import simulate

        self.last_result = simulate(
            program,
            dram=dram,
            max_cycles=max_cycles,
            timeout=timeout,
            check_races=False,
            out_semantics=self.out_semantics,
        )  # races: checked by Device.run / execute
        return self.last_result.stats

    def _start_cycles(self) -> list[int]:
        return self.last_result.schedule.start

    def write_trace(self, path: str) -> None:
        """Chrome trace-event JSON of the last run (one track per module)."""
        from hw_sim.trace import write_trace

        if self.last_result is None:
            raise DeviceError(f"{self.name}: no run to trace yet")
        write_trace(self.last_result, path)


# name -> "module:Class"; imported on first use. The RTL device registers itself here.
DEVICE_MODULES: dict[str, str] = {
    "hw_sim": "runtime.device:HwSimDevice",
    "rtl": "runtime.rtl_device:RtlDevice",
}


def get_device(name: str, cfg: HwConfig) -> Device:
    """A device by name (`hw_sim`, `rtl`, ...) for hardware config `cfg`."""
    try:
        target = DEVICE_MODULES[name]
    except KeyError:
        raise DeviceError(
            f"unknown device {name!r}; devices: {', '.join(sorted(DEVICE_MODULES))}"
        ) from None
    module_name, cls_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as e:
        raise DeviceError(f"device {name!r} is not available: {e}") from None
    return cls(cfg)
