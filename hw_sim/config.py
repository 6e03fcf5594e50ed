"""The one hardware definition.

A JSON file holds VTA's `LOG_*` keys plus the timing parameters of vtac's cycle model; `HwConfig`
derives every width, depth and byte size from it. Nothing else in vtac may write a block size,
an element width or a buffer depth: the compiler, the simulator, the RTL params header and the
tests all read them from here.

Units: "element" = one SRAM row = one operand tile of the GEMM intrinsic (VTA's terminology);
depths are in elements, sizes in bytes, widths in bits, latencies in clock cycles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

CONFIG_DIR = Path(__file__).with_name("configs")

# Keys a config file must define, with a one-line meaning each (used in error messages and docs).
REQUIRED_KEYS: dict[str, str] = {
    "LOG_INP_WIDTH": "log2 bits of an input value (3 = int8)",
    "LOG_WGT_WIDTH": "log2 bits of a weight value (3 = int8)",
    "LOG_ACC_WIDTH": "log2 bits of an accumulator value (5 = int32)",
    "LOG_BATCH": "log2 of the GEMM batch dimension",
    "LOG_BLOCK": "log2 of the GEMM block (BLOCK_IN = BLOCK_OUT)",
    "LOG_UOP_BUFF_SIZE": "log2 bytes of the micro-op SRAM",
    "LOG_INP_BUFF_SIZE": "log2 bytes of the input SRAM",
    "LOG_WGT_BUFF_SIZE": "log2 bytes of the weight SRAM",
    "LOG_ACC_BUFF_SIZE": "log2 bytes of the accumulator SRAM",
    "CLOCK_MHZ": "accelerator clock in MHz (for GOPS and wall-time figures)",
    "LOG_BUS_WIDTH": "log2 bits of the memory data bus (6 = 64-bit AXI)",
    "DRAM_LATENCY": "cycles a burst waits before its first beat (read) or after its last (write)",
    "MAX_BURST_BEATS": "longest burst in bus beats",
    "CMD_QUEUE_DEPTH": "entries in each of the load/compute/store command queues",
    "TOKEN_LATENCY": "cycles from the end of a pushing instruction to the token being poppable",
    "GEMM_PIPELINE": "extra cycles per GEMM instruction to fill/drain the GEMM pipeline",
    "ALU_PIPELINE": "extra cycles per ALU instruction to fill/drain the ALU pipeline",
}

# Keys a config file may define, with their default and meaning. Host-side, not hardware: they
# change no instruction or cycle count, only the co-run timeline of whole models.
OPTIONAL_KEYS: dict[str, tuple[float, str]] = {
    "LAUNCH_OVERHEAD_US": (
        20.0,
        "host time per accelerator launch in microseconds (driver call, cache flush/invalidate, "
        "start and completion poll; vtac's assumption for a Pynq-class board)",
    ),
}

# Hardware features a config may switch on, with their meaning. Off by default; a feature at its
# default is left out of the JSON form, so configs written before it keep their fingerprint.
FEATURE_KEYS: dict[str, str] = {
    "ALU_MUL": (
        "the ALU decodes MUL (opcode 4): VTA's functional simulator, vtac's hw_sim and RTL do; "
        "VTA's Chisel and HLS hardware do not, so code that uses it is not portable to them"
    ),
}

# Widths VTA fixes independently of the buffer sizes (hw_spec.h).
LOOP_ITER_WIDTH = 14
MEMOP_SRAM_ADDR_WIDTH = 16
MEMOP_DRAM_ADDR_WIDTH = 32
MEMOP_SIZE_WIDTH = 16
MEMOP_STRIDE_WIDTH = 16
MEMOP_PAD_WIDTH = 4
ALU_IMM_WIDTH = 16
TOKEN_COUNTER_WIDTH = 8  # dependency-token counters saturate at 2**8 - 1
UOP_WIDTH = 32
INSN_WIDTH = 128


class ConfigError(ValueError):
    """A hardware config file is missing a key, has a bad value, or is inconsistent."""


@dataclass(frozen=True)
class HwConfig:
    """An immutable hardware configuration; every derived quantity is a property."""

    name: str
    LOG_INP_WIDTH: int
    LOG_WGT_WIDTH: int
    LOG_ACC_WIDTH: int
    LOG_BATCH: int
    LOG_BLOCK: int
    LOG_UOP_BUFF_SIZE: int
    LOG_INP_BUFF_SIZE: int
    LOG_WGT_BUFF_SIZE: int
    LOG_ACC_BUFF_SIZE: int
    CLOCK_MHZ: float
    LOG_BUS_WIDTH: int
    DRAM_LATENCY: int
    MAX_BURST_BEATS: int
    CMD_QUEUE_DEPTH: int
    TOKEN_LATENCY: int
    GEMM_PIPELINE: int
    ALU_PIPELINE: int
    LAUNCH_OVERHEAD_US: float = OPTIONAL_KEYS["LAUNCH_OVERHEAD_US"][0]
    ALU_MUL: bool = False

    def __post_init__(self) -> None:
        self._validate()

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, name: str = "custom") -> HwConfig:
        """A config from its JSON form, checked against `json_schema()` first (one
        `ConfigError` naming the field: wrong type, out of bounds, NaN, unknown key)."""
        from hw_sim.schemas import SchemaError, check

        if not isinstance(data, dict):
            raise ConfigError(f"hardware config {name!r} must be a JSON object")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ConfigError(
                f"hardware config {name!r} is missing "
                + ", ".join(f"{k} ({REQUIRED_KEYS[k]})" for k in missing)
            )
        try:
            check(data, cls.json_schema(), f"hardware config {name!r}")
        except SchemaError as e:
            raise ConfigError(str(e)) from None
        values = {k: data[k] for k in cls.param_types() if k in data}
        values["CLOCK_MHZ"] = float(values["CLOCK_MHZ"])
        for k in OPTIONAL_KEYS:
            if k in values:
                values[k] = float(values[k])
        return cls(name=name, **values)

    @classmethod
    def param_types(cls) -> dict[str, type]:
        """Every parameter of the JSON form and its Python type (from the dataclass)."""
        types = {"int": int, "float": float, "str": str, "bool": bool}
        return {f.name: types.get(str(f.type), object) for f in fields(cls) if f.name != "name"}

    @classmethod
    def json_schema(cls) -> dict:
        """The JSON Schema of a config file (`hw_sim.schemas.config_schema`)."""
        from hw_sim.schemas import config_schema

        return config_schema(cls.param_types())

    def to_dict(self) -> dict:
        """The JSON form (round-trips through `from_dict`)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}
        for k in FEATURE_KEYS:
            if not d[k]:
                del d[k]
        d["TARGET"] = "sim"
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    # ----- element types ----------------------------------------------------------------
    @property
    def inp_width(self) -> int:
        return 1 << self.LOG_INP_WIDTH

    @property
    def wgt_width(self) -> int:
        return 1 << self.LOG_WGT_WIDTH

    @property
    def acc_width(self) -> int:
        return 1 << self.LOG_ACC_WIDTH

    @property
    def out_width(self) -> int:
        """OUT values have the input width (VTA: LOG_OUT_WIDTH = LOG_INP_WIDTH)."""
        return self.inp_width

    # ----- GEMM shape ---------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return 1 << self.LOG_BATCH

    @property
    def block(self) -> int:
        return 1 << self.LOG_BLOCK

    @property
    def block_in(self) -> int:
        return self.block

    @property
    def block_out(self) -> int:
        return self.block

    @property
    def macs_per_gemm_uop(self) -> int:
        return self.batch * self.block_in * self.block_out

    @property
    def ops_per_cycle(self) -> int:
        """Peak arithmetic ops (multiply + add) per cycle."""
        return 2 * self.macs_per_gemm_uop

    @property
    def peak_gops(self) -> float:
        return self.ops_per_cycle * self.CLOCK_MHZ / 1e3

    # ----- SRAM elements (one row each) ------------------------------------------------------
    @property
    def inp_elem_bits(self) -> int:
        return self.batch * self.block_in * self.inp_width

    @property
    def wgt_elem_bits(self) -> int:
        return self.block_out * self.block_in * self.wgt_width

    @property
    def acc_elem_bits(self) -> int:
        return self.batch * self.block_out * self.acc_width

    @property
    def out_elem_bits(self) -> int:
        return self.batch * self.block_out * self.out_width

    @property
    def inp_elem_bytes(self) -> int:
        return self.inp_elem_bits // 8

    @property
    def wgt_elem_bytes(self) -> int:
        return self.wgt_elem_bits // 8

    @property
    def acc_elem_bytes(self) -> int:
        return self.acc_elem_bits // 8

    @property
    def out_elem_bytes(self) -> int:
        return self.out_elem_bits // 8

    @property
    def uop_elem_bytes(self) -> int:
        return UOP_WIDTH // 8

    @property
    def insn_bytes(self) -> int:
        return INSN_WIDTH // 8

    # ----- SRAM depths (elements) and index widths ----------------------------------------------
    @property
    def log_uop_depth(self) -> int:
        return self.LOG_UOP_BUFF_SIZE + 3 - (UOP_WIDTH.bit_length() - 1)

    @property
    def log_inp_depth(self) -> int:
        return self.LOG_INP_BUFF_SIZE + 3 - self.LOG_BATCH - self.LOG_BLOCK - self.LOG_INP_WIDTH

    @property
    def log_wgt_depth(self) -> int:
        return self.LOG_WGT_BUFF_SIZE + 3 - 2 * self.LOG_BLOCK - self.LOG_WGT_WIDTH

    @property
    def log_acc_depth(self) -> int:
        return self.LOG_ACC_BUFF_SIZE + 3 - self.LOG_BATCH - self.LOG_BLOCK - self.LOG_ACC_WIDTH

    @property
    def log_out_depth(self) -> int:
        """OUT shares ACC's index space."""
        return self.log_acc_depth

    @property
    def uop_depth(self) -> int:
        return 1 << self.log_uop_depth

    @property
    def inp_depth(self) -> int:
        return 1 << self.log_inp_depth

    @property
    def wgt_depth(self) -> int:
        return 1 << self.log_wgt_depth

    @property
    def acc_depth(self) -> int:
        return 1 << self.log_acc_depth

    @property
    def out_depth(self) -> int:
        return 1 << self.log_out_depth

    @property
    def out_buff_bytes(self) -> int:
        return self.out_depth * self.out_elem_bytes

    # ----- micro-op fields ---------------------------------------------------------------
    @property
    def uop_dst_width(self) -> int:
        return self.log_acc_depth

    @property
    def uop_src_width(self) -> int:
        return max(self.log_acc_depth, self.log_inp_depth)

    @property
    def uop_wgt_width(self) -> int:
        return self.log_wgt_depth

    # ----- memory system --------------------------------------------------------------------
    @property
    def bus_bits(self) -> int:
        return 1 << self.LOG_BUS_WIDTH

    @property
    def bus_bytes(self) -> int:
        return self.bus_bits // 8

    @property
    def token_max(self) -> int:
        """Largest count a dependency-token counter holds."""
        return (1 << TOKEN_COUNTER_WIDTH) - 1

    # ----- identity -------------------------------------------------------------------------
    @property
    def bitstream_name(self) -> str:
        """VTA's config string, e.g. `1x16_i8w8a32_15_15_18_17`."""
        return (
            f"{self.batch}x{self.block}_i{self.inp_width}w{self.wgt_width}a{self.acc_width}"
            f"_{self.LOG_UOP_BUFF_SIZE}_{self.LOG_INP_BUFF_SIZE}"
            f"_{self.LOG_WGT_BUFF_SIZE}_{self.LOG_ACC_BUFF_SIZE}"
        )

    @cached_property
    def fingerprint(self) -> str:
        """A short stable hash of every hardware parameter (cache keys, artifact checks). The
        host-side OPTIONAL_KEYS are left out: they change no instruction, cycle or RTL build."""
        import hashlib

        hw = {k: v for k, v in self.to_dict().items() if k not in OPTIONAL_KEYS}
        return hashlib.sha256(json.dumps(hw, indent=2, sort_keys=True).encode()).hexdigest()[:16]

    def summary(self) -> str:
        return (
            f"{self.name}: {self.bitstream_name}, inp {self.inp_depth}x{self.inp_elem_bytes}B, "
            f"wgt {self.wgt_depth}x{self.wgt_elem_bytes}B, "
            f"acc {self.acc_depth}x{self.acc_elem_bytes}B, "
            f"uop {self.uop_depth}, bus {self.bus_bits}b, {self.CLOCK_MHZ:g} MHz, "
            f"peak {self.peak_gops:.1f} GOPS"
        )

    # ----- checks ---------------------------------------------------------------------------
    def _validate(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"hardware config {self.name!r}: {msg}")

        if (self.LOG_INP_WIDTH, self.LOG_WGT_WIDTH, self.LOG_ACC_WIDTH) != (3, 3, 5):
            raise bad(
                "vtac implements int8 inputs/weights with int32 accumulators only "
                "(LOG_INP_WIDTH=3, LOG_WGT_WIDTH=3, LOG_ACC_WIDTH=5)"
            )
        if not 0 <= self.LOG_BATCH <= 4:
            raise bad(f"LOG_BATCH must be in 0..4, got {self.LOG_BATCH}")
        if not 1 <= self.LOG_BLOCK <= 6:
            raise bad(f"LOG_BLOCK must be in 1..6, got {self.LOG_BLOCK}")
        if not 3 <= self.LOG_BUS_WIDTH <= 10:
            raise bad(f"LOG_BUS_WIDTH must be in 3..10, got {self.LOG_BUS_WIDTH}")
        for key, log_depth in (
            ("LOG_UOP_BUFF_SIZE", self.log_uop_depth),
            ("LOG_INP_BUFF_SIZE", self.log_inp_depth),
            ("LOG_WGT_BUFF_SIZE", self.log_wgt_depth),
            ("LOG_ACC_BUFF_SIZE", self.log_acc_depth),
        ):
            if log_depth < 1:
                raise bad(f"{key}={getattr(self, key)} leaves fewer than 2 rows in that buffer")
            if log_depth > MEMOP_SRAM_ADDR_WIDTH:
                raise bad(f"{key} gives 2**{log_depth} rows; SRAM indices have 16 bits")
        uop_bits = self.uop_dst_width + self.uop_src_width + self.uop_wgt_width
        if uop_bits > UOP_WIDTH:
            raise bad(
                f"a micro-op needs {uop_bits} bits (dst {self.uop_dst_width} + src "
                f"{self.uop_src_width} + wgt {self.uop_wgt_width}) but has {UOP_WIDTH}: "
                "shrink the ACC/INP/WGT buffers"
            )
        if self.log_uop_depth + 1 > LOOP_ITER_WIDTH + 2:
            raise bad("micro-op buffer too deep for the instruction's uop_bgn/uop_end fields")
        for key, lo in (
            ("DRAM_LATENCY", 0),
            ("MAX_BURST_BEATS", 1),
            ("CMD_QUEUE_DEPTH", 1),
            ("TOKEN_LATENCY", 0),
            ("GEMM_PIPELINE", 0),
            ("ALU_PIPELINE", 0),
        ):
            if getattr(self, key) < lo:
                raise bad(f"{key} must be >= {lo}, got {getattr(self, key)}")


def load_config(name_or_path: str | Path = "default") -> HwConfig:
    """Load a config by built-in name (`default`, `small`) or from a JSON file path."""
    path = Path(name_or_path)
    if path.suffix != ".json" and not path.exists():
        builtin = CONFIG_DIR / f"{name_or_path}.json"
        if not builtin.exists():
            names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
            raise ConfigError(
                f"no built-in hardware config {str(name_or_path)!r}; built-ins: {', '.join(names)}"
                " (or pass a path to a .json file)"
            )
        path = builtin
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"hardware config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"hardware config {path} is a directory, not a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"hardware config {path} is not valid JSON: {e}") from None
    except (RecursionError, ValueError) as e:  # nesting too deep; integers over 4300 digits
        raise ConfigError(f"hardware config {path} cannot be read: {e}") from None
    except OSError as e:
        raise ConfigError(f"hardware config {path} cannot be read: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"hardware config {path} must hold a JSON object")
    return HwConfig.from_dict(data, name=path.stem)
