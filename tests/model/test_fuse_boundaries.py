"""Fused accelerator boundaries on the CPU (`compiler/driver/fuse_boundaries.py`), and the YOLO-
and MobileNet-style models compiled and co-run on hw_sim, bit-exact launch by launch."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.driver.fuse_boundaries import fuse_boundaries
from compiler.graph.executor import run_graph
from compiler.graph.passes.fuse_ops import group_table
from compiler.graph.passes.partition import partition_report
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.ref.fused import FUSED_OP
from compiler.models import mobilenet, yolo
from hw_sim.config import load_config
from runtime.artifact import load_artifact, save_artifact
from runtime.executor import Executor, compare_integer_values, launch_mismatches, reference_values
from runtime.profile import build_profile, model_crossings
from runtime.timeline import co_run_timeline
from tests.model.helpers import samples


def _uniform(g, count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    shape = g.types["input"].shape
    return [{"input": rng.uniform(0, 1, shape).astype(np.float32)} for _ in range(count)]


@functools.cache
def small_yolo(config: str, fuse: bool = True):
    g = yolo(seed=3, image=64)
    return g, compile_model(g, load_config(config), _uniform(g, 2, 0), fuse_boundaries=fuse)


def _chains(graph) -> Counter:
    return Counter(
        "+".join(s["op"].removeprefix("vtac.") for s in n.attrs["steps"])
        for n in graph.nodes if n.op == FUSED_OP
    )  # fmt: skip


def test_rewrite_fuses_yolo_boundaries_and_keeps_every_value(default_cfg):
    g = yolo(seed=3, image=64)
    x = _uniform(g, 1, 5)[0]
    q = compile_for_accel(g, default_cfg, _uniform(g, 2, 0)).graph
    f = fuse_boundaries(q)
    chains = _chains(f)
    # every Conv block's SiLU between two convs: one kernel from packed int8 to packed int8
    assert chains["unpack+dequantize+Sigmoid+Mul+quantize+pack"] >= 20
    assert chains["unpack+dequantize+Sigmoid+Mul+Add"] == 6  # C2f bottleneck residuals
    assert len(group_table(f)) < 0.6 * len(group_table(q))
    # no boundary node is left alone between an accelerator output and an activation
    assert not any(n.op == "vtac.unpack" for n in f.nodes)
    for n in f.nodes:
        if n.op == FUSED_OP:
            assert n.target == "cpu" and len(n.outputs) == 1
    # groups are contiguous runs in graph order
    seen, prev = set(), None
    for n in f.nodes:
        assert n.group == prev or n.group not in seen
        seen.add(n.group)
        prev = n.group
    # the reference executor gives the same outputs, bit for bit (same ops in the same order)
    a, b = run_graph(q, x), run_graph(f, x)
    for o in g.outputs:
        np.testing.assert_array_equal(a[o], b[o])
    # the partition report of the fused graph: same crossings
    assert partition_report(f).crossings == partition_report(q).crossings


def test_rewrite_leaves_shared_values_alone(default_cfg):
    """A value read outside the chain ends the chain there (one output per fused node)."""
    from compiler.graph.builder import GraphBuilder

    rng = np.random.default_rng(0)
    b = GraphBuilder("shared", opset=13)
    x = b.input("input", (1, 16, 8, 8))
    w = b.const("w", (rng.standard_normal((16, 16, 3, 3)) * 0.2).astype(np.float32))
    y = b.op("Conv", [x, w], name="c1", pads=(1, 1, 1, 1))
    s = b.op("Mul", [y, b.op("Sigmoid", [y])], name="silu")
    w2 = b.const("w2", (rng.standard_normal((16, 16, 3, 3)) * 0.2).astype(np.float32))
    z = b.op("Conv", [s, w2], name="c2", pads=(1, 1, 1, 1))
    pool = b.op("MaxPool", [s], kernel_shape=(2, 2), strides=(2, 2), name="pool")
    b.output(z, pool)  # the SiLU output feeds c2 and the (CPU) pooling
    g = b.build()
    q = compile_for_accel(g, default_cfg, samples(g, 2)).graph
    f = fuse_boundaries(q)
    chains = _chains(f)
    assert chains["unpack+dequantize+Sigmoid+Mul"] == 1  # float SiLU: read by two consumers
    assert "quantize+pack" not in chains  # a bare quantize + pack is left to its own kernels
    assert sum(n.op == "vtac.quantize" for n in f.nodes) == 2  # the input's and c2's input
    feed = samples(g, 1, seed=2)[0]
    a, c = run_graph(q, feed), run_graph(f, feed)
    for o in g.outputs:
        np.testing.assert_array_equal(a[o], c[o])


@pytest.mark.sim
def test_yolo_co_runs_bit_exactly_launch_by_launch(cfg):
    g, model = small_yolo(cfg.name)
    _, unfused = small_yolo(cfg.name, False)
    feed = _uniform(g, 1, 7)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert launch_mismatches(model, res.values) == []
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    fused = [la for la in model.cpu_launches() if any(n.op == FUSED_OP for n in la.nodes)]
    assert len(fused) >= 40 and all(n.impl == "llvm" for la in fused for n in la.nodes)
    assert len(model.cpu_launches()) < 0.5 * len(unfused.cpu_launches())
    # the same int8 results as the unfused model, and the same boundary crossings
    base = Executor(unfused).run(feed)
    for o in model.outputs:
        np.testing.assert_array_equal(res.outputs[o], base.outputs[o])
    assert model_crossings(model) == model_crossings(unfused)
    # the profile counts them as the partition report does
    durations = [r.time_us for r in res.launches]
    prof = build_profile(model, res.launches, co_run_timeline(model, durations))
    q = compile_for_accel(g, cfg, _uniform(g, 2, 0))
    assert prof.crossings == partition_report(q.graph, q.float_graph).crossings
    assert prof.crossings.count > 100 and prof.to_json()["boundary_bytes"] > 0


@pytest.mark.sim
def test_fused_model_survives_the_artifact(tmp_path):
    g, model = small_yolo("default")
    path = tmp_path / "yolo.vtac"
    save_artifact(model, path)
    loaded = load_artifact(path)
    feed = _uniform(g, 1, 8)[0]
    a, b = Executor(model).run(feed), Executor(loaded).run(feed)
    for o in model.outputs:
        np.testing.assert_array_equal(a.outputs[o], b.outputs[o])
    steps = [n.attrs["steps"] for la in loaded.cpu_launches() for n in la.nodes if n.op == FUSED_OP]
    assert steps and all(s[0]["op"] for s in steps)


@pytest.mark.sim
def test_mobilenet_co_runs_bit_exactly(cfg, tmp_path):
    g = mobilenet(seed=1, image=64, width=0.5, classes=10)
    model = compile_model(g, cfg, _uniform(g, 2, 0))
    chains = Counter(
        "+".join(s["op"].removeprefix("vtac.") for s in n.attrs["steps"])
        for la in model.cpu_launches() for n in la.nodes if n.op == FUSED_OP
    )  # fmt: skip
    # Depthwise convs, ReLU6 and the global pool all run on the accelerator now: no boundary
    # chain is left to fuse, only the model's entry and exit (and the flatten before the dense).
    assert not chains and len(model.cpu_launches()) <= 8
    feed = _uniform(g, 1, 3)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert launch_mismatches(model, res.values) == []
    save_artifact(model, tmp_path / "m.vtac")
    again = Executor(load_artifact(tmp_path / "m.vtac")).run(feed)
    for o in model.outputs:
        np.testing.assert_array_equal(res.outputs[o], again.outputs[o])
