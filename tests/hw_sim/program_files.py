"""Edits of program files that keep the checksum valid (for format and malformed-word tests)."""

from __future__ import annotations

import json
import struct
import zlib

from hw_sim.program import MAGIC


def with_bad_opcode(data: bytes, index: int, opcode: int) -> bytes:
    """`data` (a program file) with instruction `index`'s opcode replaced, checksum fixed."""
    (hlen,) = struct.unpack("<I", data[8:12])
    body = bytearray(data[:-4])
    at = 12 + hlen + 16 * index
    body[at] = (body[at] & ~0x7) | opcode
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def with_header(data: bytes, edit) -> bytes:
    """`data` (a program file) with its JSON header replaced by `edit(header)`, checksum fixed."""
    (hlen,) = struct.unpack("<I", data[8:12])
    header = edit(json.loads(data[12 : 12 + hlen]))
    hjson = json.dumps(header).encode()
    body = MAGIC + struct.pack("<I", len(hjson)) + hjson + data[12 + hlen : -4]
    return body + struct.pack("<I", zlib.crc32(body))
