"""The device API (hw_sim device) and the `vtac disasm/sim/demo` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw_sim.config import load_config
from hw_sim.errors import WatchdogError
from hw_sim.examples import EXAMPLES
from runtime.cli import main
from runtime.device import DeviceError, HwSimDevice, get_device
from tests.hw_sim.program_files import with_bad_opcode

pytestmark = pytest.mark.sim


def test_device_write_run_read(cfg, rng):
    prog, _ = EXAMPLES["relu"](cfg, rng)
    dev = get_device("hw_sim", cfg)
    assert isinstance(dev, HwSimDevice)
    dev.load(prog)
    a = rng.integers(-300, 300, size=prog.buffers["a"].shape).astype(np.int32)
    dev.write("a", a)
    stats = dev.run()
    assert stats.total_cycles > 0 and dev.stats is stats
    np.testing.assert_array_equal(dev.read("out"), np.clip(a, 0, 127).astype(np.int8))


def test_device_errors(cfg, rng):
    prog, _ = EXAMPLES["relu"](cfg, rng)
    dev = get_device("hw_sim", cfg)
    with pytest.raises(DeviceError, match="no program loaded"):
        dev.run()
    dev.load(prog)
    with pytest.raises(DeviceError, match="no DRAM buffer 'nope'; buffers: a, out"):
        dev.read("nope")
    with pytest.raises(DeviceError, match=r"buffer 'a' holds .* int32, got .* int64"):
        dev.write("a", np.zeros(prog.buffers["a"].shape, np.int64))
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        get_device("tpu", cfg)
    other = load_config("small" if cfg.name == "default" else "default")
    with pytest.raises(DeviceError, match="program built for hardware config"):
        get_device("hw_sim", other).load(prog)


def test_failed_run_keeps_device_dram(cfg, rng):
    prog, _ = EXAMPLES["relu"](cfg, rng)
    dev = get_device("hw_sim", cfg)
    dev.load(prog)
    before = dev.dram.copy()
    with pytest.raises(WatchdogError):
        dev.run(max_cycles=10)
    assert np.array_equal(dev.dram, before)


def test_alloc_extra_buffer(cfg, rng):
    prog, _ = EXAMPLES["relu"](cfg, rng)
    dev = get_device("hw_sim", cfg)
    dev.load(prog)
    buf = dev.alloc("scratch", (3, 5), "int16")
    assert buf.offset >= prog.dram.size
    dev.write("scratch", np.arange(15, dtype=np.int16).reshape(3, 5))
    assert dev.read("scratch")[2, 4] == 14
    dev.run()  # the program ignores the new buffer but runs on the grown DRAM
    assert dev.read("scratch")[2, 4] == 14


def test_cli_demo_sim_disasm(tmp_path, capsys):
    prog_path, trace_path = tmp_path / "d.vtaprog", tmp_path / "t.json"
    assert main(["demo", "--config", "small", "--vt", "2", "--n", "128",
                 "--save", str(prog_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "bit-exact" in out and "utilization" in out and "compute" in out
    assert main(["sim", str(prog_path), "--json", "--trace", str(trace_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_cycles"] > 0 and 0 < doc["utilization"] <= 1
    trace = json.loads(trace_path.read_text())
    tracks = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert tracks == {"fetch", "load", "compute", "store"}
    assert any(e.get("ph") == "X" and e["tid"] == 2 for e in trace["traceEvents"])
    assert main(["disasm", str(prog_path)]) == 0
    assert "GEMM uop[" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.vtaprog"
    bad.write_bytes(b"garbage")
    assert main(["sim", str(bad)]) == 1
    assert "not a vtac program" in capsys.readouterr().err
    good = tmp_path / "g.vtaprog"
    assert main(["demo", "--config", "small", "--n", "128", "--save", str(good)]) == 0
    capsys.readouterr()
    assert main(["sim", str(good), "--max-cycles", "100"]) == 1
    assert "WatchdogError" in capsys.readouterr().err
    malformed = tmp_path / "m.vtaprog"
    malformed.write_bytes(with_bad_opcode(good.read_bytes(), 3, 7))
    for command in ("sim", "disasm"):
        assert main([command, str(malformed)]) == 1
        assert "m.vtaprog: instruction 3: unknown opcode 7" in capsys.readouterr().err


def test_bench_script_json_keys(capsys):
    """The benchmark runs and reports its figures (speed itself is not asserted)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_hw_sim.py"
    spec = importlib.util.spec_from_file_location("bench_hw_sim", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--config", "small", "--repeat", "1", "--groups", "20", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gemm_cycles_per_s"] > 0 and doc["small_insn_per_s"] > 0
    assert doc["gemm_vt1"]["bit_exact"] and doc["gemm_vt2"]["bit_exact"]
    assert doc["gemm_vt2"]["cycles"] < doc["gemm_vt1"]["cycles"]
