"""Shared pytest fixtures: the hardware configs every test runs under."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hw_sim.config import HwConfig, load_config

# The race detector is on for every run in the suite (every example, compiled kernel and random
# program must order its cross-module SRAM accesses by tokens); tests of racy programs opt out.
os.environ.setdefault("VTAC_CHECK_RACES", "1")

# Every config the suite must pass on: VTA's default and a small one (BLOCK 8, small buffers).
CONFIG_NAMES = ("default", "small")


@pytest.fixture(params=CONFIG_NAMES)
def cfg(request) -> HwConfig:
    """Each test that takes `cfg` runs once per hardware config."""
    return load_config(request.param)


@pytest.fixture
def default_cfg() -> HwConfig:
    return load_config("default")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: randomized tests are reproducible."""
    return np.random.default_rng(int(os.environ.get("VTAC_SEED", "1234")))


def sweep_size(default: int) -> int:
    """How many random cases a sweep runs; scaled by VTAC_SWEEP (a multiplier, default 1)."""
    return max(1, int(default * float(os.environ.get("VTAC_SWEEP", "1"))))
