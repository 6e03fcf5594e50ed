"""A complete accelerator program and its binary file format.

A `Program` is what a device runs: the instruction stream, the initial DRAM image (operands,
weights, micro-op kernels), the table of named DRAM buffers, and the hardware config it was built
for. Instructions live in their own region (fetch reads them over its own port); every DRAM
address inside an instruction is an element index into `dram`.

File format (`.vtaprog`, little-endian, no pickle):

    magic        8 bytes   b"VTAPROG\\x01"
    header_len   u32       length of the JSON header in bytes
    header       JSON      {"format": 1, "config": {...}, "config_name": str, "n_insns": int,
                            "dram_bytes": int, "buffers": [{"name", "offset", "shape", "dtype"}],
                            "meta": {...}}
    insns        n_insns * 16 bytes (two little-endian u64 words each)
    dram         dram_bytes
    crc32        u32       CRC-32 of everything before it (detects truncation and corruption)
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw_sim.config import ConfigError, HwConfig
from hw_sim.isa import Insn, MalformedInstruction, MemType, decode_program, encode_program
from hw_sim.schemas import SchemaError, check, header_schema

MAGIC = b"VTAPROG\x01"
FORMAT_VERSION = 1


class ProgramFormatError(ValueError):
    """A program file is truncated, corrupt, or of an unknown format."""


class MalformedProgramInstruction(ProgramFormatError, MalformedInstruction):
    """A program file whose checksum is right but one of whose instruction words is not a valid
    instruction (catchable as either a file-format error or a malformed instruction)."""


def mem_elem_bytes(cfg: HwConfig, mem_type: MemType) -> int:
    """Bytes of one DRAM element of `mem_type` (the unit of `dram_base` and `x_stride`)."""
    return {
        MemType.UOP: cfg.uop_elem_bytes,
        MemType.WGT: cfg.wgt_elem_bytes,
        MemType.INP: cfg.inp_elem_bytes,
        MemType.ACC: cfg.acc_elem_bytes,
        MemType.OUT: cfg.out_elem_bytes,
        MemType.ACC_8BIT: cfg.batch * cfg.block_out,
    }[MemType(mem_type)]


def dram_alignment(cfg: HwConfig) -> int:
    """Alignment of every DRAM buffer: the largest element, so any memory type can address it."""
    return max(mem_elem_bytes(cfg, m) for m in MemType)


@dataclass(frozen=True)
class DramBuffer:
    """A named region of DRAM holding an array of `shape` and `dtype`, at byte `offset`."""

    name: str
    offset: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize  # Python ints: no wrap

    def elem(self, cfg: HwConfig, mem_type: MemType, byte_offset: int = 0) -> int:
        """DRAM element index of this buffer (+ byte_offset) in units of `mem_type` elements."""
        size = mem_elem_bytes(cfg, mem_type)
        addr = self.offset + byte_offset
        if addr % size:
            raise ValueError(
                f"buffer {self.name!r} + {byte_offset} B is not aligned to a {mem_type.name} "
                f"element ({size} B)"
            )
        return addr // size


@dataclass
class Program:
    cfg: HwConfig
    insns: list[Insn]
    dram: np.ndarray  # uint8, the initial DRAM image
    buffers: dict[str, DramBuffer] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dram = np.ascontiguousarray(self.dram, dtype=np.uint8).reshape(-1)

    def buffer(self, name: str) -> DramBuffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise KeyError(
                f"program has no DRAM buffer {name!r}; buffers: {', '.join(self.buffers) or 'none'}"
            ) from None

    def read_buffer(self, dram: np.ndarray, name: str) -> np.ndarray:
        """View buffer `name` inside a DRAM image (e.g. the final DRAM after a run)."""
        b = self.buffer(name)
        raw = np.asarray(dram, dtype=np.uint8)[b.offset : b.offset + b.nbytes]
        return raw.view(b.dtype).reshape(b.shape)

    # ----- serialization -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = {
            "format": FORMAT_VERSION,
            "config": self.cfg.to_dict(),
            "config_name": self.cfg.name,
            "n_insns": len(self.insns),
            "dram_bytes": int(self.dram.size),
            "buffers": [
                {"name": b.name, "offset": b.offset, "shape": list(b.shape), "dtype": b.dtype}
                for b in self.buffers.values()
            ],
            "meta": self.meta,
        }
        hjson = json.dumps(header, sort_keys=True).encode()
        body = b"".join(
            [
                MAGIC,
                struct.pack("<I", len(hjson)),
                hjson,
                encode_program(self.insns, self.cfg).tobytes(),
                self.dram.tobytes(),
            ]
        )
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Program:
        def bad(msg: str) -> ProgramFormatError:
            return ProgramFormatError(f"{source}: {msg}")

        if len(data) < len(MAGIC) + 8:
            raise bad(f"truncated ({len(data)} bytes): not a vtac program")
        if data[: len(MAGIC)] != MAGIC:
            raise bad("not a vtac program file (bad magic)")
        (crc,) = struct.unpack("<I", data[-4:])
        if zlib.crc32(data[:-4]) != crc:
            raise bad("checksum mismatch: the file is truncated or corrupt")
        (hlen,) = struct.unpack("<I", data[8:12])
        try:
            header = json.loads(data[12 : 12 + hlen])
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise bad(f"unreadable header: {e}") from None
        except RecursionError:
            raise bad("unreadable header: JSON nested too deeply") from None
        except ValueError as e:  # e.g. an integer of more than 4300 digits
            raise bad(f"unreadable header: {e}") from None
        if not isinstance(header, dict):
            raise bad("the header is not a JSON object")
        if header.get("format") != FORMAT_VERSION:
            raise bad(f"format version {header.get('format')!r}, this vtac reads {FORMAT_VERSION}")
        missing = [k for k in ("config", "n_insns", "dram_bytes", "buffers") if k not in header]
        if missing:
            raise bad(f"header lacks {', '.join(missing)}")
        try:
            check(header, header_schema(HwConfig.json_schema()), "header")
        except SchemaError as e:
            raise bad(str(e)) from None
        try:
            cfg = HwConfig.from_dict(header["config"], name=header.get("config_name", "custom"))
        except (ConfigError, TypeError) as e:
            raise bad(f"bad hardware config: {e}") from None
        n, nd = header["n_insns"], header["dram_bytes"]
        pos = 12 + hlen
        if len(data) - 4 != pos + 16 * n + nd:
            raise bad(f"size mismatch: header promises {n} instructions and {nd} DRAM bytes")
        words = np.frombuffer(data, dtype="<u8", count=2 * n, offset=pos).reshape(n, 2)
        try:
            insns = decode_program(words, cfg)
        except MalformedInstruction as e:
            raise MalformedProgramInstruction(f"{source}: {e}") from None
        dram = np.frombuffer(data, dtype=np.uint8, count=nd, offset=pos + 16 * n).copy()
        buffers = {}
        for i, b in enumerate(header["buffers"]):
            buf = DramBuffer(b["name"], b["offset"], tuple(b["shape"]), b["dtype"])
            if buf.name in buffers:
                raise bad(f"header field buffers[{i}].name: {buf.name!r} appears twice")
            if buf.offset + buf.nbytes > nd:
                raise bad(
                    f"header field buffers[{i}]: buffer {buf.name!r} spans bytes {buf.offset}.."
                    f"{buf.offset + buf.nbytes - 1}, beyond the {nd}-byte DRAM image"
                )
            buffers[buf.name] = buf
        return cls(cfg, insns, dram, buffers, header.get("meta", {}))

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> Program:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise ProgramFormatError(f"program file not found: {p}") from None
        except IsADirectoryError:
            raise ProgramFormatError(f"{p} is a directory, not a program file") from None
        except OSError as e:
            raise ProgramFormatError(f"{p}: cannot read: {e.strerror or e}") from None
        return cls.from_bytes(data, source=str(p))
