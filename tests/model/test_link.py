"""Linking: arena planning with liveness reuse, and relocation of compiled programs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.driver.link import ConstantPool, LinkError, plan_arena, relocate
from compiler.vta.build import build
from compiler.vta.ops import conv2d_op
from runtime.device import get_device


def test_arena_reuses_bytes_of_dead_values_only():
    sizes = {"a": 1000, "b": 500, "c": 1000, "d": 200}
    life = {"a": (0, 1), "b": (1, 2), "c": (2, 3), "d": (0, 3)}
    plan = plan_arena(sizes, life, 256)
    spans = {v: (plan.offsets[v], plan.offsets[v] + -(-sizes[v] // 256) * 256) for v in sizes}
    for u in sizes:
        for v in sizes:
            if u < v and life[u][0] <= life[v][1] and life[v][0] <= life[u][1]:
                (s1, e1), (s2, e2) = spans[u], spans[v]
                assert e1 <= s2 or e2 <= s1, (u, v)  # live at once: disjoint bytes
    assert plan.offsets["a"] == plan.offsets["c"]  # a is dead when c is born
    assert plan.peak_bytes < plan.total_bytes
    assert all(o % 256 == 0 for o in plan.offsets.values())


def test_constant_pool_places_equal_contents_once():
    pool = ConstantPool(256, [], {}, 0)
    a = pool.place(np.arange(10, dtype=np.int8))
    b = pool.place(np.arange(10, dtype=np.int8))
    c = pool.place(np.ones(10, np.int8))
    assert a == b != c and pool.image().size == 512


@pytest.mark.sim
def test_relocated_program_computes_the_same(cfg, rng):
    k = build(conv2d_op(cfg, 1, 2 * cfg.block, 8, 8, cfg.block, 3, 1, 1), cfg)
    x = rng.integers(-128, 128, (1, 2 * cfg.block, 8, 8)).astype(np.int8)
    w = rng.integers(-128, 128, (cfg.block, 2 * cfg.block, 3, 3)).astype(np.int8)
    b = rng.integers(-(2**12), 2**12, cfg.block).astype(np.int32)
    dev = get_device("hw_sim", cfg)
    expected, stats = k.run(dev, data=x, kernel=w, bias=b)
    # Move every buffer, in reverse order, behind a 4 KiB gap.
    prog = k.program
    order = sorted(prog.buffers.values(), key=lambda b: -b.offset)
    new, at = {}, 4096
    for buf in order:
        new[buf.name] = at
        at += -(-max(buf.nbytes, 1) // 256) * 256
    moved = relocate(prog, new, cfg)
    dram = np.zeros(at, np.uint8)
    for name, arr in k.pack_inputs(data=x, kernel=w, bias=b).items():
        dram[new[name] : new[name] + arr.nbytes] = arr.view(np.uint8).ravel()
    for name, buf in prog.buffers.items():
        if name.startswith("uops"):
            dram[new[name] : new[name] + buf.nbytes] = prog.dram[
                buf.offset : buf.offset + buf.nbytes
            ]
    st = dev.execute(moved, dram)
    out = moved.read_buffer(dram, k.output_name)
    np.testing.assert_array_equal(k.op.unpack(out), expected)
    assert st.total_cycles == stats.total_cycles
    with pytest.raises(LinkError, match="no linked offset"):
        relocate(prog, {}, cfg)
