"""Program files with a correct checksum but odd header values, and odd hardware config files:
each is one error naming the field (schema-checked in hw_sim/schemas.py), never a traceback or
a silently accepted value."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from hw_sim.config import ConfigError, load_config
from hw_sim.examples import EXAMPLES
from hw_sim.program import MAGIC, Program, ProgramFormatError
from runtime.cli import main
from tests.hw_sim.program_files import with_header


def _with_raw_header(data: bytes, text: bytes) -> bytes:
    (hlen,) = struct.unpack("<I", data[8:12])
    body = MAGIC + struct.pack("<I", len(text)) + text + data[12 + hlen : -4]
    return body + struct.pack("<I", zlib.crc32(body))


def _cfg(h, **kv):
    return h | {"config": h["config"] | kv}


def _buf0(h, **kv):
    return h | {"buffers": [h["buffers"][0] | kv] + h["buffers"][1:]}


HEADER_CASES = [
    (lambda h: h | {"n_insns": 1.5}, r" field n_insns: 1.5 is not of type 'integer'"),
    (lambda h: h | {"n_insns": "3"}, r" field n_insns: '3' is not of type 'integer'"),
    (lambda h: h | {"n_insns": None}, r" field n_insns: None is not of type 'integer'"),
    (lambda h: h | {"dram_bytes": None}, r" field dram_bytes: None is not of type"),
    (lambda h: h | {"n_insns": -1}, r" field n_insns: -1 is less than the minimum of 0"),
    (lambda h: h | {"dram_bytes": -8}, r" field dram_bytes: -8 is less than the minimum"),
    (lambda h: h | {"dram_bytes": 10**30}, r" field dram_bytes: .* is greater than the maximum"),
    (lambda h: _buf0(h, shape=[-2, 3]), r" field buffers\[0\]\.shape\[0\]: -2 is less than"),
    (lambda h: _buf0(h, offset=-64), r" field buffers\[0\]\.offset: -64 is less than"),
    (lambda h: _buf0(h, dtype="O"), r" field buffers\[0\]\.dtype: 'O' is not one of"),
    (
        lambda h: _buf0(h, shape=[10**6, 10**6]),
        r" field buffers\[0\]: buffer .* beyond the .*-byte DRAM",
    ),
    (lambda h: _buf0(h, extra=1), r" field buffers\[0\]: unknown key 'extra'; known: dtype"),
    (lambda h: _cfg(h, CLOCK_MHZ=float("nan")), r" field config\.CLOCK_MHZ: nan is not a finite"),
    (lambda h: _cfg(h, CLOCK_MHZ=float("inf")), r" field config\.CLOCK_MHZ: inf is not a finite"),
    (
        lambda h: _cfg(h, CMD_QUEUE_DEPTH=10**9),
        r" field config\.CMD_QUEUE_DEPTH: 1000000000 is greater",
    ),
    (
        lambda h: _cfg(h, LOG_BLOCCK=4),
        r" field config: unknown key 'LOG_BLOCCK'; known: ALU_MUL, ALU_PIPELINE",
    ),
    (lambda h: h | {"surprise": 1}, r": unknown key 'surprise'; known: buffers"),
    (lambda h: h | {"meta": [1]}, r" field meta: \[1\] is not of type 'object'"),
]


@pytest.mark.parametrize("edit, message", HEADER_CASES)
def test_odd_header_values_name_the_field(default_cfg, rng, edit, message):
    data = EXAMPLES["relu"](default_cfg, rng)[0].to_bytes()
    with pytest.raises(ProgramFormatError, match=r"p\.vtaprog: header" + message):
        Program.from_bytes(with_header(data, edit), source="p.vtaprog")


@pytest.mark.parametrize(
    "text, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not a JSON object|unreadable"),
        (b'{"n_insns": ' + b"9" * 5000 + b"}", "unreadable header: Exceeds the limit"),
        (b'{"format": 1, "meta": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001, "unreadable"),
    ],
)
def test_unreadable_headers(default_cfg, rng, text, message):
    data = EXAMPLES["relu"](default_cfg, rng)[0].to_bytes()
    with pytest.raises(ProgramFormatError, match=message):
        Program.from_bytes(_with_raw_header(data, text))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"CLOCK_MHZ": "fast"}, r" field CLOCK_MHZ: 'fast' is not of type 'number'"),
        ({"CLOCK_MHZ": 0}, r" field CLOCK_MHZ: 0 is less than or equal to the minimum"),
        ({"LOG_BLOCK": 4.0}, r" field LOG_BLOCK: 4.0 is not of type 'integer'"),
        ({"LOG_ACC_BUFF_SIZE": 5000}, r" field LOG_ACC_BUFF_SIZE: 5000 is greater"),
        ({"TOKEN_LATENCY": True}, r" field TOKEN_LATENCY: True is not of type 'integer'"),
        ({"MAX_BURST_BEATS": 0}, r" field MAX_BURST_BEATS: 0 is less than the minimum of 1"),
        ({"DRAM_LATENCY_": 3}, r": unknown key 'DRAM_LATENCY_'; known: ALU_MUL, ALU_PIPELINE"),
    ],
)
def test_config_file_values_name_the_field(tmp_path, change, message):
    d = json.loads(load_config("default").to_json())
    path = tmp_path / "c.json"
    path.write_text(json.dumps(d | change))
    with pytest.raises(ConfigError, match=r"hardware config 'c'" + message):
        load_config(path)


def test_config_file_that_is_not_json(tmp_path, capsys):
    path = tmp_path / "c.cfg"
    path.write_text("LOG_BLOCK = 4\n")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_config(path)
    assert main(["demo", "--config", str(path)]) == 1
    assert "is not valid JSON" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path.as_posix() + "/")
