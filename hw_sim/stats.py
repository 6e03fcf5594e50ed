"""Run statistics: the counters `hw_sim` and the RTL both report (see docs/timing-model.md).

`RunStats.counters()` is the exact set the cross-check compares between devices; derived figures
(utilization, GOPS) are computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hw_sim.config import HwConfig

FETCH_CLASSES = ("busy", "memory", "queue_full", "idle")
MODULE_CLASSES = ("busy", "memory", "token", "empty")
MODULES = ("fetch", "load", "compute", "store")
TOKEN_QUEUES = ("l2g", "g2l", "g2s", "s2g")
READ_TYPES = ("UOP", "WGT", "INP", "ACC", "ACC_8BIT")


def _zero_module(name: str) -> dict[str, int]:
    classes = FETCH_CLASSES if name == "fetch" else MODULE_CLASSES
    return {c: 0 for c in classes} | {"insns": 0}


@dataclass
class RunStats:
    """Counters of one run. Each module's cycle classes sum to `total_cycles`."""

    total_cycles: int = 0
    modules: dict[str, dict[str, int]] = field(
        default_factory=lambda: {m: _zero_module(m) for m in MODULES}
    )
    dram_bytes_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(READ_TYPES, 0))
    dram_bytes_written: int = 0
    gemm_uops: int = 0
    alu_uops: int = 0
    tokens_left: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_QUEUES, 0))

    def counters(self) -> dict:
        """Everything two devices must agree on, as plain JSON-able data."""
        return {
            "total_cycles": self.total_cycles,
            "modules": {m: dict(c) for m, c in self.modules.items()},
            "dram_bytes_read": dict(self.dram_bytes_read),
            "dram_bytes_written": self.dram_bytes_written,
            "gemm_uops": self.gemm_uops,
            "alu_uops": self.alu_uops,
            "tokens_left": dict(self.tokens_left),
        }

    @classmethod
    def from_counters(cls, d: dict) -> RunStats:
        return cls(
            total_cycles=int(d["total_cycles"]),
            modules={m: {k: int(v) for k, v in c.items()} for m, c in d["modules"].items()},
            dram_bytes_read={k: int(v) for k, v in d["dram_bytes_read"].items()},
            dram_bytes_written=int(d["dram_bytes_written"]),
            gemm_uops=int(d["gemm_uops"]),
            alu_uops=int(d["alu_uops"]),
            tokens_left={k: int(v) for k, v in d["tokens_left"].items()},
        )

    # ----- derived ------------------------------------------------------------------------
    def vta_profiler(self, cfg: HwConfig) -> dict[str, int]:
        """The counters of VTA's functional simulator (`sim_driver.cc` Profiler), by its names
        and definitions, for comparing with VTA's own runs.

        They equal vtac's except one: VTA's `acc_load_nbytes` counts an ACC_8BIT load in
        accumulator elements (`x_size * y_size * BATCH * BLOCK_OUT * 4` bytes), vtac's
        `dram_bytes_read["ACC_8BIT"]` in the int8 bytes actually read from DRAM — a factor
        ACC_WIDTH / 8 (4 at the default config) — and VTA has one counter for ACC and ACC_8BIT.
        `gemm_counter` counts non-reset GEMM micro-ops, as vtac's `gemm_uops`.
        """
        rd = self.dram_bytes_read
        acc8 = rd["ACC_8BIT"] // (cfg.batch * cfg.block_out) * cfg.acc_elem_bytes
        return {
            "inp_load_nbytes": rd["INP"],
            "wgt_load_nbytes": rd["WGT"],
            "acc_load_nbytes": rd["ACC"] + acc8,
            "uop_load_nbytes": rd["UOP"],
            "out_store_nbytes": self.dram_bytes_written,
            "gemm_counter": self.gemm_uops,
            "alu_counter": self.alu_uops,
        }

    def utilization(self) -> float:
        """GEMM micro-op cycles / total cycles."""
        return self.gemm_uops / self.total_cycles if self.total_cycles else 0.0

    def gops(self, cfg: HwConfig) -> float:
        """Achieved int8 GOPS at the configured clock."""
        if not self.total_cycles:
            return 0.0
        return cfg.ops_per_cycle * self.gemm_uops * cfg.CLOCK_MHZ / self.total_cycles / 1e3

    def wall_time_us(self, cfg: HwConfig) -> float:
        return self.total_cycles / cfg.CLOCK_MHZ

    def diff(self, other: RunStats) -> list[str]:
        """Human-readable differences `self` vs `other` (empty when equal)."""
        a, b = self.counters(), other.counters()
        out: list[str] = []

        def walk(x, y, path):
            if isinstance(x, dict) and isinstance(y, dict):
                for k in sorted(set(x) | set(y)):
                    walk(x.get(k), y.get(k), f"{path}.{k}" if path else k)
            elif x != y:
                out.append(f"{path}: {x} != {y}")

        walk(a, b, "")
        return out
