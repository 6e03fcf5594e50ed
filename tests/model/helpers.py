"""Small whole models for the tests, compiled once per config and cached."""

from __future__ import annotations

import functools

import numpy as np

from compiler.driver.compile_model import compile_model
from compiler.models import resnet18
from hw_sim.config import load_config


def run_on_rtl_and_hw_sim(model, feed: dict, keep_values: bool = False):
    """Run `model` on hw_sim and on the Verilated RTL and check that they agree: the same
    outputs and, launch by launch, the same cycles and counters. Returns the hw_sim result."""
    from runtime.executor import Executor

    sim = Executor(model, "hw_sim").run(feed, keep_values=keep_values)
    rtl = Executor(model, "rtl").run(feed)
    for k in sim.outputs:
        np.testing.assert_array_equal(rtl.outputs[k], sim.outputs[k])
    for a, b in zip(sim.launches, rtl.launches, strict=True):
        assert a.cycles == b.cycles, a.name
        if a.stats is not None:
            assert a.stats.diff(b.stats) == [], a.name
    return sim


def run_keeping_launch_images(model, feed: dict, keep_values: bool = True):
    """Co-run `model` on hw_sim; returns (the run result, {launch index: the DRAM image that
    accelerator launch starts from}) — what `check_portable` replays each launch on."""
    from compiler.driver.model import AccelLaunch
    from runtime.executor import Executor

    ex = Executor(model)
    before: dict[int, np.ndarray] = {}
    done = [0]

    def snapshot(_rec):  # called after each launch: the next one starts from this image
        done[0] += 1
        i = done[0]
        if i < len(model.launches) and isinstance(model.launches[i], AccelLaunch):
            before[i] = ex.dram.copy()

    return ex.run(feed, keep_values=keep_values, on_launch=snapshot), before


def samples(graph, count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {n: rng.standard_normal(graph.types[n].shape).astype(np.float32) for n in graph.inputs}
        for _ in range(count)
    ]


@functools.cache
def small_resnet(config: str, fuse_accel: bool = False, batch: int = 1, image: int = 32):
    """(float graph, LinkedModel) of a narrow ResNet-18 (width 16, 10 classes)."""
    g = resnet18(seed=5, image=image, width=16, classes=10, batch=batch)
    return g, compile_model(g, load_config(config), samples(g, 2), fuse_accel=fuse_accel)


def mobilenet_block_graph(
    seed: int = 3, c: int = 24, expand: int = 4, image: int = 14, leaky: float | None = None
):
    """Two MobileNet-V2 inverted residual blocks (1x1 expand + ReLU6 -> 3x3 depthwise +
    ReLU6 -> 1x1 project (+ the residual in the first, stride 2 in the second)) and a global
    average pool (then a LeakyRelu with slope `leaky`, if given): channels 24 -> 96 -> 24 by
    default (24 is not a multiple of the default BLOCK)."""
    from compiler.graph.builder import GraphBuilder

    rng = np.random.default_rng(seed)
    b = GraphBuilder("mobilenet_block", opset=13)
    lo, hi = b.const("zero", np.float32(0)), b.const("six", np.float32(6))

    def conv(x, cin, cout, k, name, stride=1, group=1, relu6=True):
        w = rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / (cin // group * k * k))
        bias = rng.standard_normal(cout) * 0.1
        y = b.op("Conv", [x, b.const(f"{name}.w", w.astype(np.float32)),
                          b.const(f"{name}.b", bias.astype(np.float32))], name=name,
                 kernel_shape=(k, k), strides=(stride, stride), pads=(k // 2,) * 4,
                 group=group)  # fmt: skip
        return b.op("Clip", [y, lo, hi], name=f"{name}.relu6") if relu6 else y

    x = b.input("x", (1, c, image, image))
    e = c * expand
    y = conv(x, c, e, 1, "expand")
    y = conv(y, e, e, 3, "dw", group=e)
    y = conv(y, e, c, 1, "project", relu6=False)
    y = b.op("Add", [y, x], name="residual")
    y = conv(y, c, e, 1, "expand2")
    y = conv(y, e, e, 3, "dw2", stride=2, group=e)
    y = conv(y, e, c, 1, "project2", relu6=False)
    y = b.op("GlobalAveragePool", [y], name="gap")
    if leaky is not None:
        y = b.op("LeakyRelu", [y], name="leaky", alpha=leaky)
    b.output(b.op("Flatten", [y], name="flat"))
    return b.build()


@functools.cache
def mobilenet_block(config: str, fuse_accel: bool = False):
    """(float graph, LinkedModel) of `mobilenet_block_graph`."""
    g = mobilenet_block_graph()
    return g, compile_model(g, load_config(config), samples(g, 2), fuse_accel=fuse_accel)
