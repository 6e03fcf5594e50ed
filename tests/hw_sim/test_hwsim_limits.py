"""The wall-clock limit beside the cycle watchdog (simulate, the device API, `vtac sim`) and
the RTL's scaled default watchdog."""

from __future__ import annotations

import pytest

from hw_sim.errors import WallClockTimeoutError, WatchdogError
from hw_sim.examples import EXAMPLES
from hw_sim.simulator import cycle_bound, simulate
from runtime.cli import main
from runtime.device import DeviceError, get_device

pytestmark = pytest.mark.sim


def _program(cfg, rng):
    return EXAMPLES["blocked_gemm_vt2"](cfg, rng)[0]


def test_timeout_names_itself(default_cfg, rng):
    prog = _program(default_cfg, rng)
    with pytest.raises(WallClockTimeoutError, match=r"wall-clock limit of 1e-09 s \(timeout\)"):
        simulate(prog, timeout=1e-9)
    assert simulate(prog, timeout=60).stats.total_cycles > 0
    with pytest.raises(ValueError, match="positive number of seconds"):
        simulate(prog, timeout=0)


def test_device_timeout_keeps_dram(default_cfg, rng):
    prog = _program(default_cfg, rng)
    dev = get_device("hw_sim", default_cfg)
    dev.load(prog)
    before = dev.dram.copy()
    with pytest.raises(WallClockTimeoutError) as e:
        dev.run(timeout=1e-9)
    assert e.value.index is not None and (dev.dram == before).all()
    with pytest.raises(DeviceError, match="positive number of seconds"):
        dev.run(timeout=-1)


def test_cli_timeout(default_cfg, rng, tmp_path, capsys):
    path = tmp_path / "p.vtaprog"
    _program(default_cfg, rng).save(path)
    assert main(["sim", str(path), "--timeout", "1e-9"]) == 1
    assert "WallClockTimeoutError: timeout: the wall-clock limit" in capsys.readouterr().err


def test_cycle_bound_covers_every_example(cfg, rng):
    for name, make in EXAMPLES.items():
        prog = make(cfg, rng)[0]
        total = simulate(prog).stats.total_cycles
        assert total <= cycle_bound(prog), name


def test_rtl_default_watchdog_is_scaled(default_cfg, rng):
    from runtime.rtl_device import default_rtl_limits

    prog = _program(default_cfg, rng)
    limit, seconds = default_rtl_limits(prog, None, None)
    assert cycle_bound(prog) < limit < 10**7 and seconds < 300
    assert default_rtl_limits(prog, 5, 2.5) == (5, 2.5)
    with pytest.raises(WatchdogError):
        simulate(prog, max_cycles=5)
