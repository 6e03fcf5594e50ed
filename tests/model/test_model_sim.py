"""Whole models on hw_sim: compile, link, co-run; integer path bit-exact with the reference."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.graph.executor import run_graph
from compiler.graph.pipeline import compile_for_accel
from compiler.models import resnet18
from hw_sim.config import load_config
from runtime.executor import Executor, compare_integer_values, launch_mismatches, reference_values
from runtime.profile import build_profile
from runtime.timeline import co_run_timeline, pipelined
from tests.model.helpers import samples, small_resnet

pytestmark = pytest.mark.sim


def _corun(model, feed):
    res = Executor(model).run(feed, keep_values=True)
    ref = reference_values(model, feed)
    return res, ref


@pytest.mark.parametrize("fuse", [False, True])
def test_small_resnet_is_bit_exact(cfg, fuse):
    g, model = small_resnet(cfg.name, fuse)
    feed = samples(g, 1, seed=9)[0]
    res, ref = _corun(model, feed)
    assert compare_integer_values(res.values, ref) == []
    assert launch_mismatches(model, res.values) == []
    victim = model.accel_launches()[-1].writes[0]  # the check sees a single wrong element
    broken = dict(res.values)
    broken[victim] = broken[victim].copy()
    broken[victim].reshape(-1)[7] ^= 1
    assert victim in launch_mismatches(model, broken)
    ints = [v for v in res.values.values() if v.dtype.kind in "iu"]
    assert len(ints) >= 25 and any(np.count_nonzero(v) > v.size // 4 for v in ints)
    # The reference executor on the compiler's own quantized graph agrees too (same values).
    qg = compile_for_accel(g, cfg, samples(g, 2)).graph
    direct = run_graph(qg, feed)
    for k, v in res.outputs.items():
        np.testing.assert_array_equal(v, direct[k])
    # Every conv, the dense, the stem's max pool and the global average pool (a depthwise conv)
    # are accelerator launches, the rest CPU; nothing fell back.
    n_accel = len(model.accel_launches())
    assert n_accel == 23 if not fuse else 1 <= n_accel < 23
    assert not model.meta["fallbacks"]
    assert (
        sum(la.macs for la in model.accel_launches())
        == sum(
            int(np.prod(g.types[n.outputs[0]].shape))
            * int(np.prod(g.constants[n.inputs[1]].shape[1:]))
            for n in g.nodes
            if n.op in ("Conv",)
        )
        + 10 * 128
    )  # unpadded conv MACs + the dense layer


def test_merged_streams_compute_the_same_in_fewer_cycles(cfg):
    g, plain = small_resnet(cfg.name, False)
    _, fused = small_resnet(cfg.name, True)
    feed = samples(g, 1, seed=3)[0]
    a = Executor(plain).run(feed)
    b = Executor(fused).run(feed)
    for k in a.outputs:
        np.testing.assert_array_equal(a.outputs[k], b.outputs[k])
    assert len(fused.accel_launches()) < len(plain.accel_launches())
    cyc = lambda r: sum(x.cycles for x in r.launches)  # noqa: E731
    assert cyc(b) <= cyc(a)
    over = lambda r: sum(x.overhead_us for x in r.launches)  # noqa: E731
    assert over(b) < over(a)


def test_batch_two_model_is_bit_exact(cfg):
    g, model = small_resnet(cfg.name, False, batch=2)
    feed = samples(g, 1, seed=4)[0]
    res, ref = _corun(model, feed)
    assert res.outputs[model.outputs[0]].shape == (2, 10)
    assert compare_integer_values(res.values, ref) == []


def test_arena_reuse_and_timeline():
    g, model = small_resnet("default")
    assert model.arena_bytes < model.arena_total_bytes
    feed = samples(g, 1)[0]
    res = Executor(model).run(feed, cpu_repeats=1)
    durations = [r.time_us for r in res.launches]
    tl = co_run_timeline(model, durations)
    assert tl.overlapped_us <= tl.sequential_us + 1e-6
    assert tl.sequential_us == pytest.approx(sum(durations))
    for s in tl.slots:  # every launch starts after what it reads was written
        la = model.launches[s.launch]
        for other in tl.slots:
            if set(model.launches[other.launch].writes) & set(la.reads):
                assert other.end_us <= s.start_us + 1e-9
    makespan, slots = pipelined(model, durations, 4)
    per_device = {
        d: sum(t for t, la in zip(durations, model.launches, strict=True) if la.device == d)
        for d in ("cpu", "accel")
    }
    assert max(per_device.values()) * 4 <= makespan + 1e-6 <= 4 * sum(durations) + 1e-6
    prof = build_profile(model, res.launches, tl)
    assert prof.accel_cycles == sum(r.cycles for r in res.launches)
    assert 0 < prof.accel_utilization <= 1 and prof.amdahl_bound >= 1
    assert prof.accel_macs > 0 and prof.cpu_macs == 0


def test_model_without_accelerator_work_runs_on_the_cpu():
    from compiler.graph.builder import GraphBuilder

    b = GraphBuilder("cpu_only", opset=13)
    x = b.input("x", (1, 3, 8, 8))
    b.output(b.op("Softmax", [b.op("Sigmoid", [x])], axis=1))
    g = b.build()
    model = compile_model(g, load_config("default"), samples(g, 1))
    assert not model.accel_launches() and model.cpu_launches()
    feed = samples(g, 1, seed=1)[0]
    out = Executor(model).run(feed).outputs
    ref = run_graph(g, feed)
    for k in out:
        np.testing.assert_allclose(out[k], ref[k], rtol=1e-5, atol=1e-6)


def test_resnet18_224_on_hw_sim_is_bit_exact():
    g = resnet18(seed=0, image=224)
    model = compile_model(g, load_config("default"), samples(g, 2))
    assert len(model.accel_launches()) == 23 and not model.meta["fallbacks"]
    res, ref = _corun(model, samples(g, 1, seed=11)[0])
    assert compare_integer_values(res.values, ref) == []
    cycles = sum(r.cycles for r in res.launches)
    assert cycles > 7_000_000  # 1.81 GMACs at 256 MACs/cycle cannot take fewer than 7.09 M
    print(f"ResNet-18 224: {cycles:,} accelerator cycles")


def test_group_the_accelerator_cannot_run_falls_back_to_the_cpu():
    from compiler.graph.builder import GraphBuilder

    rng = np.random.default_rng(2)
    b = GraphBuilder("unequal_pads", opset=13)
    x = b.input("x", (1, 16, 12, 12))
    w1 = b.const("w1", (rng.standard_normal((16, 16, 3, 3)) * 0.2).astype(np.float32))
    w2 = b.const("w2", (rng.standard_normal((16, 16, 3, 3)) * 0.2).astype(np.float32))
    y = b.op("Conv", [x, w1], name="c21", pads=(1, 1, 0, 0))  # pads top/left only
    y = b.op("Relu", [y])
    b.output(b.op("Conv", [y, w2], name="c11", pads=(1, 1, 1, 1)))
    g = b.build()
    model = compile_model(g, load_config("default"), samples(g, 2))
    (fb,) = model.meta["fallbacks"]
    assert fb["nodes"][0] == "c21" and "pads [1, 1, 0, 0]" in fb["reason"]
    assert [la.name for la in model.accel_launches()] == ["c11"]
    cpu = next(la for la in model.cpu_launches() if la.name == "c21")
    assert cpu.reason == fb["reason"]
    assert [(n.op, n.impl) for n in cpu.nodes][0] == ("vtac.conv2d", "numpy")  # packed: reference
    feed = samples(g, 1, seed=5)[0]
    res, ref = _corun(model, feed)
    assert compare_integer_values(res.values, ref) == []
    assert launch_mismatches(model, res.values) == []
