"""Corner-case timing parameters: zero DRAM and token latency, one-entry command queues,
one-beat bursts, one-cycle pipelines, a 64-bit bus on the small datapath. One extra build."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.config import HwConfig, load_config
from hw_sim.examples import EXAMPLES
from hw_sim.random_programs import random_program
from runtime.rtl_crosscheck import crosscheck
from tests.conftest import sweep_size

pytestmark = pytest.mark.rtl

EDGE = {
    "DRAM_LATENCY": 0,
    "TOKEN_LATENCY": 0,
    "CMD_QUEUE_DEPTH": 1,
    "MAX_BURST_BEATS": 1,
    "GEMM_PIPELINE": 1,
    "ALU_PIPELINE": 1,
    "LOG_BUS_WIDTH": 6,
}


@pytest.fixture(scope="module")
def edge_cfg() -> HwConfig:
    return HwConfig.from_dict(load_config("small").to_dict() | EDGE, name="edge")


@pytest.mark.parametrize("name", [n for n in EXAMPLES if not n.startswith("blocked")])
def test_examples_at_edge_config(edge_cfg, name):
    res = crosscheck(EXAMPLES[name](edge_cfg, np.random.default_rng(5))[0])
    assert res.ok, res.report()


def test_random_programs_at_edge_config(edge_cfg):
    bad = []
    for seed in range(sweep_size(15)):
        res = crosscheck(random_program(edge_cfg, seed))
        if not res.ok:
            bad.append(f"seed {seed}: {res.report()}")
    assert not bad, "\n".join(bad)
