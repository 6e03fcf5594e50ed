"""Whole models whose data movement stays int8 on hw_sim: conv -> maxpool -> conv, a C2f-like
split/concat block, an SPPF block, a standalone residual add; compiled with `compiler/driver`,
co-run bit-exact against the int8 reference at both configs, concat/split zero-copy."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from compiler.driver.compile_model import compile_model
from compiler.driver.model import AccelLaunch, CpuLaunch
from compiler.driver.views import is_zero_copy
from hw_sim.config import load_config
from runtime.executor import Executor, compare_integer_values, launch_mismatches, reference_values
from tests.model.helpers import run_on_rtl_and_hw_sim, samples
from tests.model.int8_blocks import conv_pool_conv, pool_residual, yolo_blocks

pytestmark = pytest.mark.sim

MODELS = {"conv_pool_conv": conv_pool_conv, "yolo_blocks": yolo_blocks,
          "pool_residual": pool_residual}  # fmt: skip


@functools.cache
def _compiled(name: str, config: str):
    g = MODELS[name]()
    return g, compile_model(g, load_config(config), samples(g, 2))


def _corun(name, cfg):
    g, model = _compiled(name, cfg.name)
    feed = samples(g, 1, seed=9)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    assert launch_mismatches(model, res.values) == []
    return g, model, res


def _cpu_ops(model) -> set[str]:
    return {op for la in model.launches if isinstance(la, CpuLaunch) for op in la.ops}


@pytest.mark.parametrize("name", MODELS)
def test_models_are_bit_exact_with_pooling_on_the_accelerator(cfg, name):
    g, model, res = _corun(name, cfg)
    assert not model.meta["fallbacks"]
    accel_ops = [op for la in model.accel_launches() for op in la.ops]
    assert "vtac.maxpool" in accel_ops
    assert not _cpu_ops(model) & {"MaxPool", "vtac.maxpool", "Concat", "Split", "vtac.add"}
    ints = [v for v in res.values.values() if v.dtype.kind in "iu"]
    assert any(np.count_nonzero(v) > v.size // 4 for v in ints)


def test_sppf_and_c2f_concats_are_zero_copy(cfg):
    g, model, res = _corun("yolo_blocks", cfg)
    views = [la for la in model.launches if isinstance(la, CpuLaunch)
             and la.ops[0] in ("vtac.concat", "vtac.split")]  # fmt: skip
    assert len(views) == 3 and all(is_zero_copy(la, model.tensors) for la in views)
    assert "vtac.upsample" in [op for la in model.accel_launches() for op in la.ops]
    # what is left on the CPU: the input's quantize + im2col (the 3-channel stem) + pack, the
    # output's unpack + dequantize (one fused boundary kernel) and the three views (no compute)
    boundary = {"vtac.quantize", "vtac.im2col", "vtac.pack", "vtac.fused_elementwise"}
    assert _cpu_ops(model) == boundary | {"vtac.concat", "vtac.split"}
    t = model.tensors
    for la in views:
        node = la.nodes[0]
        whole, parts = ((node.outputs[0], node.inputs) if node.op == "vtac.concat"
                        else (node.inputs[0], node.outputs))  # fmt: skip
        # by address: the parts lie back to back inside the whole, in channel order
        offsets = [t[p].offset for p in parts]
        ends = [t[p].offset + t[p].nbytes for p in parts]
        assert offsets[0] == t[whole].offset and ends[-1] == t[whole].offset + t[whole].nbytes
        assert offsets[1:] == ends[:-1]
    # the SPPF concat's parts are written by the conv and the three accelerator max pools
    sppf = views[-1].nodes[0]
    writers = {v: la for la in model.launches for v in la.writes}
    assert all(isinstance(writers[p], AccelLaunch) for p in sppf.inputs)
    # a view moves no data and takes no time
    records = {r.name: r for r in res.launches}
    assert all(records[la.name].time_us == 0.0 for la in views)


def test_standalone_add_is_an_accelerator_group(cfg):
    g, model, res = _corun("pool_residual", cfg)
    adds = [la for la in model.accel_launches() if la.ops[0] == "vtac.add"]
    assert len(adds) == 1 and adds[0].ops == ["vtac.add", "vtac.requantize"]


@pytest.mark.rtl
def test_yolo_blocks_on_rtl_equal_hw_sim():
    """The same launches on the Verilated RTL: same outputs, cycles and counters (merged
    accelerator streams, so the max pools and the upsample run inside multi-kernel streams)."""
    cfg = load_config("small")
    g = yolo_blocks(c=8, image=8)
    model = compile_model(g, cfg, samples(g, 2), fuse_accel=True)
    feed = samples(g, 1, seed=6)[0]
    sim = run_on_rtl_and_hw_sim(model, feed, keep_values=True)
    assert compare_integer_values(sim.values, reference_values(model, feed)) == []


def test_views_survive_the_artifact(tmp_path):
    """Saved and loaded, the views are still zero-copy and the run is identical."""
    from runtime.artifact import load_artifact, save_artifact

    cfg = load_config("small")
    g, model = _compiled("yolo_blocks", "small")
    save_artifact(model, tmp_path / "y.vtac")
    loaded = load_artifact(tmp_path / "y.vtac")
    views = [la for la in loaded.launches if la.device == "cpu"
             and la.ops[0] in ("vtac.concat", "vtac.split")]  # fmt: skip
    assert len(views) == 3 and all(is_zero_copy(la, loaded.tensors) for la in views)
    feed = samples(g, 1, seed=4)[0]
    a = Executor(model).run(feed).outputs
    res = Executor(loaded).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(loaded, feed)) == []
    for k in a:
        np.testing.assert_array_equal(res.outputs[k], a[k])
    assert loaded.cfg == cfg


def test_partial_block_concat_and_asymmetric_pad_run_int8_on_the_cpu(cfg):
    """12 + 12 channels (not whole blocks) and a (0, 0, 1, 1) zero pad: int8 CPU Concat and Pad
    (LLVM kernels) between the accelerator launches, still bit-exact."""
    from compiler.graph.builder import GraphBuilder

    rng = np.random.default_rng(3)
    b = GraphBuilder("partial", opset=13)
    x = b.input("x", (1, 3, 8, 8))

    def conv(v, cin, cout):
        w = b.const("w", (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32))
        return b.op("Relu", [b.op("Conv", [v, w], pads=(1,) * 4)])

    y = b.op("Concat", [conv(x, 3, 12), conv(x, 3, 12)], axis=1)
    y = b.op("Pad", [y, b.const("p", np.array([0, 0, 0, 0, 0, 0, 1, 1]))], mode="constant")
    b.output(conv(b.op("MaxPool", [y], kernel_shape=(3, 3)), 24, 16))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    feed = samples(g, 1, seed=3)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    assert launch_mismatches(model, res.values) == []
    cpu = {la.ops[0]: la for la in model.launches if isinstance(la, CpuLaunch)}
    for op in ("Concat", "Pad"):
        assert cpu[op].nodes[0].impl == "llvm"
        assert all(model.tensors[v].dtype == "int8" for v in cpu[op].writes)
    assert "vtac.maxpool" in [op for la in model.accel_launches() for op in la.ops]


def test_a_view_that_would_overwrite_live_bytes_copies_instead(cfg):
    """split y -> [a, b]; concat [a, conv(b)] would put conv(b) where b lives, and b is read
    again afterwards: the linker keeps the split a view and makes the concat copy."""
    from compiler.graph.builder import GraphBuilder
    from tests.model.int8_blocks import _Blocks

    c = 2 * cfg.block
    b = GraphBuilder("clash", opset=13)
    net = _Blocks(b, 4)
    x = b.input("x", (1, 3, 8, 8))
    y = net.conv(x, 3, 2 * c)
    a, part = b.op("Split", [y, b.const("s", np.array([c, c]))], axis=1, num_outputs=2)
    cat = b.op("Concat", [a, net.conv(part, c, c)], axis=1)
    b.output(net.conv(cat, 2 * c, c), net.conv(part, c, c))
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    feed = samples(g, 1, seed=5)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    views = {la.ops[0]: la for la in model.launches if isinstance(la, CpuLaunch)
             and la.ops[0] in ("vtac.concat", "vtac.split")}  # fmt: skip
    assert is_zero_copy(views["vtac.split"], model.tensors)
    assert not is_zero_copy(views["vtac.concat"], model.tensors)


def test_concat_alignment_shift_runs_on_the_accelerator(cfg):
    """Two branches with different exponents: the finer one is shifted on the accelerator (a
    one-operand element-wise group), then the concat is a view; nothing falls back."""
    from compiler.graph.builder import GraphBuilder

    rng = np.random.default_rng(7)
    c = cfg.block
    b = GraphBuilder("align", opset=13)
    x = b.input("x", (1, 3, 8, 8))

    def conv(v, cin, cout, scale):
        w = b.const("w", (rng.standard_normal((cout, cin, 3, 3)) * scale).astype(np.float32))
        return b.op("Conv", [v, w], pads=(1,) * 4)

    y1, y2 = conv(x, 3, c, 0.3), conv(x, 3, c, 4.0)
    cat = b.op("Concat", [y1, y2], axis=1)
    b.output(conv(cat, 2 * c, c, 0.3), y1)  # y1 has a second reader: no epilogue claims it
    g = b.build()
    model = compile_model(g, cfg, samples(g, 2))
    assert not model.meta["fallbacks"]
    groups = [la.ops for la in model.accel_launches()]
    assert ["vtac.requantize"] in groups
    feed = samples(g, 1, seed=2)[0]
    res = Executor(model).run(feed, keep_values=True)
    assert compare_integer_values(res.values, reference_values(model, feed)) == []
    assert launch_mismatches(model, res.values) == []
