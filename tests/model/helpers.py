"""Small whole models for the tests, compiled once per config and cached."""

from __future__ import annotations

import functools

import numpy as np

from compiler.driver.compile_model import compile_model
from compiler.models import resnet18
from hw_sim.config import load_config


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
