"""Measurement on hw_sim: typed results, labels, the process pool and the Dask executor."""

from __future__ import annotations

import pytest

from compiler.schedule.vta_gemm import Knobs
from compiler.tune.measure import LocalExecutor, MeasureResult, Status, measure_vta_job
from compiler.tune.space import VtaSpace
from tests.tune.fake import fake_job, tiny_task

TASK = tiny_task()


def _job(**knobs) -> dict:
    return {"task": TASK.to_dict(), "knobs": Knobs(**knobs).to_dict()}


@pytest.mark.sim
def test_vta_measurement_is_cycles_with_module_labels():
    r = MeasureResult.from_dict(measure_vta_job(_job(tile_h=2, tile_w=8, h_threading=2)))
    assert r.status == Status.OK and r.cost > 0
    assert set(r.labels["modules"]) == {"fetch", "load", "compute", "store"}
    assert r.labels["modules"]["compute"]["busy"] > 0 and r.labels["gemm_uops"] > 0
    again = measure_vta_job(_job(tile_h=2, tile_w=8, h_threading=2))
    assert again["cost"] == r.cost  # deterministic: one run is the measurement


@pytest.mark.sim
def test_a_bad_point_is_a_typed_result_not_an_exception():
    r = MeasureResult.from_dict(measure_vta_job(_job(tile_h=3)))  # 3 does not divide 8
    assert r.status == Status.COMPILE_ERROR and "tile_h=3" in r.error


@pytest.mark.sim
def test_alu_bias_variant_and_uop_split_measure():
    sp = VtaSpace(TASK)
    for k in (Knobs(tile_h=2, tile_w=8, bias_on="alu"), Knobs(tile_h=4, tile_w=8, uop_split=1)):
        assert sp.check_knobs(k) is None
        assert measure_vta_job({"task": TASK.to_dict(), "knobs": k.to_dict()})["status"] == "ok"


def test_local_pool_runs_jobs_and_survives_a_failing_one():
    ex = LocalExecutor(2)
    try:
        jobs = [_job(tile_h=h) for h in (1, 2, 4)] + [{"task": TASK.to_dict(), "knobs": None}]
        out = ex.map(fake_job, jobs, timeout=30)
    finally:
        ex.close()
    assert [o["status"] for o in out] == ["ok", "ok", "ok", "runtime_error"]


def test_dask_local_cluster_executor():
    distributed = pytest.importorskip("distributed")
    from compiler.tune.dask_executor import DaskExecutor

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        ex = DaskExecutor(cluster)
        try:
            out = ex.map(
                fake_job,
                [_job(tile_h=1), _job(tile_h=2), {"task": TASK.to_dict(), "knobs": None}],
                timeout=30,
            )
        finally:
            ex.close()
    assert [o["status"] for o in out] == ["ok", "ok", "runtime_error"]
    assert out[0]["cost"] == fake_job(_job(tile_h=1))["cost"]
