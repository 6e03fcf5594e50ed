"""The float plan (compiler/cpu/float_plan.py) against the NumPy reference executor.

Tolerance: float32 kernels vs the float32 NumPy reference, max |plan - ref| <= 1e-4 x max |ref|
per output (the convolutions' tolerance in tests/cpu); shapes and dtypes first. Which steps the
planner chose (fused, NCHWc, converted, node on CPU_KERNELS or NumPy) is checked from the plan
itself. Weights and inputs are seeded.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from compiler.cpu.float_plan import plan_float_model
from compiler.graph.builder import GraphBuilder
from compiler.graph.executor import run_graph
from compiler.graph.pipeline import optimize
from compiler.llvm import vector_lanes
from compiler.models import resnet18

RTOL = 1e-4


def _feeds(g, seed=0):
    rng = np.random.default_rng(seed)
    return {v: rng.standard_normal(g.types[v].shape).astype(np.float32) for v in g.inputs}


def _check(g, seed=0):
    """Run the plan on seeded inputs, compare with run_graph; returns the plan."""
    plan = plan_float_model(g)
    feeds = _feeds(g, seed)
    out, times = plan.run(feeds)
    ref = run_graph(g, feeds)
    assert len(times) == len(plan.steps) and all(t >= 0 for t in times)
    assert set(out) == set(ref)
    for k, r in ref.items():
        assert out[k].shape == r.shape and out[k].dtype == r.dtype, k
        err = float(np.abs(out[k] - r).max())
        assert err <= RTOL * float(np.abs(r).max()), f"{k}: max error {err:.3g}"
    return plan


def _kinds(plan):
    return [s.kind for s in plan.steps]


def _step(plan, name):
    return next(s for s in plan.steps if name in s.name.split("+"))


def _w(rng, o, c, kh, kw):
    return (rng.standard_normal((o, c, kh, kw)) / np.sqrt(c * kh * kw)).astype(np.float32)


def _conv(b, rng, x, c, o, k=(3, 3), pads=(1, 1, 1, 1), strides=(1, 1), name=None, bias=True):
    ins = [x, b.const(f"{name}.weight", _w(rng, o, c, *k))]
    if bias:
        ins.append(b.const(f"{name}.bias", (rng.standard_normal(o) * 0.1).astype(np.float32)))
    return b.op("Conv", ins, name=name, kernel_shape=k, pads=pads, strides=strides)


# ----- whole models -------------------------------------------------------------------------
def test_resnet18_small_runs_on_nchwc_kernels_and_matches_the_reference():
    g = optimize(resnet18(seed=0, image=32, width=16))
    plan = _check(g)
    kinds = _kinds(plan)
    assert kinds.count("conv") == 20 and kinds.count("maxpool") == 1 and "gap" in kinds
    assert kinds.count("pack") == 1 and "unpack" not in kinds and "repack" not in kinds
    assert [s.name for s in plan.steps if s.kind == "view"] == ["flatten"] and "node" not in kinds
    assert "dense" in kinds and plan.numpy_nodes == {}
    # every Add and Relu is fused: 8 residual blocks, 17 ReLUs
    fused = [s.name for s in plan.steps if s.kind == "conv"]
    assert sum(".add" in n for n in fused) == 8 and sum("relu" in n for n in fused) == 17
    assert str(plan) == str(plan_float_model(g))  # deterministic printer
    assert str(plan).startswith("float plan resnet18: 25 steps")


def test_buffers_are_reused_and_outputs_are_copies():
    g = optimize(resnet18(seed=1, image=32, width=16))
    plan = plan_float_model(g)
    buffers = {k: id(v) for k, v in plan.static.items()}
    f1, f2 = _feeds(g, 1), _feeds(g, 2)
    out1, _ = plan.run(f1)
    keep = out1["logits"].copy()
    out2, _ = plan.run(f2)
    assert {k: id(v) for k, v in plan.static.items()} == buffers
    # NCHWc forms of one shape with disjoint lifetimes share buffers
    nchwc = [v for k, v in plan.static.items() if isinstance(k, tuple)]
    assert len({id(v) for v in nchwc}) < len(nchwc)
    np.testing.assert_array_equal(out1["logits"], keep)  # not overwritten by the second run
    ref = run_graph(g, f2)["logits"]
    assert np.abs(out2["logits"] - ref).max() <= RTOL * np.abs(ref).max()


def test_resnet18_224():
    g = optimize(resnet18(seed=0, image=224))
    t0 = time.perf_counter()
    plan = _check(g, seed=3)
    assert _kinds(plan).count("conv") == 20
    print(f"ResNet-18 224 plan + run + reference: {time.perf_counter() - t0:.1f} s")


# ----- small graphs -------------------------------------------------------------------------
def test_non_square_kernels_symmetric_pads_stay_nchwc_asymmetric_fall_back():
    rng = np.random.default_rng(10)
    b = GraphBuilder("nonsquare", opset=13)
    x = b.input("x", (1, 16, 9, 11))
    y = b.op("Relu", [_conv(b, rng, x, 16, 16, (1, 3), (0, 1, 0, 1), name="c13")])
    y = b.op("Relu", [_conv(b, rng, y, 16, 16, (3, 1), (1, 0, 1, 0), name="c31")])
    y = _conv(b, rng, y, 16, 16, (3, 3), (0, 0, 1, 1), name="asym")
    b.output(_conv(b, rng, y, 16, 8, (1, 3), (0, 1, 0, 1), name="last"))
    plan = _check(b.build())
    assert _step(plan, "c13").kind == "conv" and _step(plan, "c31").kind == "conv"
    assert _step(plan, "asym").kind == "node" and _step(plan, "asym").node.impl == "llvm"
    assert _step(plan, "last").kind == "conv"
    assert _kinds(plan).count("unpack") == 2 and _kinds(plan).count("pack") == 2


def test_stride_two_and_one_by_one():
    rng = np.random.default_rng(11)
    b = GraphBuilder("stride2", opset=13)
    x = b.input("x", (1, 16, 15, 15))
    y = b.op("Relu", [_conv(b, rng, x, 16, 32, (3, 3), (1, 1, 1, 1), (2, 2), "s2")])
    b.output(_conv(b, rng, y, 32, 32, (1, 1), (0, 0, 0, 0), (2, 2), "ds", bias=False))
    plan = _check(b.build())
    assert _kinds(plan) == ["pack", "conv", "conv", "unpack"]


@pytest.mark.parametrize("conv_first", [True, False])
def test_residual_add_is_fused_in_either_operand_order(conv_first):
    rng = np.random.default_rng(12)
    b = GraphBuilder("residual", opset=13)
    x = b.input("x", (1, 32, 8, 8))
    y = b.op("Relu", [_conv(b, rng, x, 32, 32, name="a")], name="relu_a")
    z = _conv(b, rng, y, 32, 32, name="b")
    s = b.op("Add", [z, x] if conv_first else [x, z], name="add")
    b.output(b.op("Relu", [s], name="relu"))
    plan = _check(b.build())
    assert [s.name for s in plan.steps if s.kind == "conv"] == ["a+relu_a", "b+add+relu"]
    assert _kinds(plan) == ["pack", "conv", "conv", "unpack"]


def test_two_conv_branches_add_fused_into_the_first_residual_from_the_second():
    rng = np.random.default_rng(13)
    b = GraphBuilder("branches", opset=13)
    x = b.input("x", (1, 16, 10, 10))
    y = b.op("Relu", [_conv(b, rng, x, 16, 32, strides=(2, 2), name="c1")])
    main = _conv(b, rng, y, 32, 32, name="c2")
    short = _conv(b, rng, x, 16, 32, (1, 1), (0, 0, 0, 0), (2, 2), name="ds")
    b.output(b.op("Add", [main, short], name="add"))
    plan = _check(b.build())
    assert _step(plan, "c2").name == "c2+add" and _step(plan, "ds").name == "ds"
    # the fused conv runs after the shortcut it reads
    names = [s.name for s in plan.steps]
    assert names.index("ds") < names.index("c2+add")


def test_conv_output_used_twice_is_not_fused():
    rng = np.random.default_rng(14)
    b = GraphBuilder("twice", opset=13)
    x = b.input("x", (1, 16, 8, 8))
    y = _conv(b, rng, x, 16, 16, name="c")
    r = b.op("Relu", [y], name="relu")
    b.output(b.op("Add", [r, _conv(b, rng, y, 16, 16, name="d")], name="add"))
    plan = _check(b.build())
    assert _step(plan, "c").name == "c" and _step(plan, "relu").kind == "node"
    # `d` reads c's NCHWc output; the Relu reads it unpacked; d's Add reads the Relu, packed
    assert _step(plan, "d").name == "d+add"
    assert _kinds(plan).count("unpack") == 2 and _kinds(plan).count("pack") == 2


def test_relu_not_after_a_conv_runs_on_nchw_and_maxpool_falls_back_on_signed_input():
    rng = np.random.default_rng(15)
    b = GraphBuilder("relu_first", opset=13)
    x = b.input("x", (1, 16, 12, 12))
    y = _conv(b, rng, b.op("Relu", [x], name="relu0"), 16, 16, name="c")
    p = b.op("MaxPool", [y], name="pool_signed", kernel_shape=(3, 3), strides=(2, 2),
             pads=(1, 1, 1, 1))  # fmt: skip
    q = b.op("Relu", [_conv(b, rng, p, 16, 16, name="c2")], name="relu2")
    q = b.op("MaxPool", [q], name="pool_relu", kernel_shape=(3, 3), strides=(2, 2),
             pads=(1, 1, 1, 1))  # fmt: skip
    b.output(b.op("GlobalAveragePool", [q], name="gap"))
    plan = _check(b.build())
    assert _step(plan, "relu0").kind == "node"
    assert _step(plan, "pool_signed").kind == "node"  # zero border != -inf padding for x < 0
    assert _step(plan, "pool_relu").kind == "maxpool" and _step(plan, "gap").kind == "gap"


def test_channels_not_multiples_of_the_vector_width():
    lanes = vector_lanes()
    odd = 2 * lanes + 2  # conv oc_bn = odd / 2, the next conv's ic_bn = odd: a repack
    rng = np.random.default_rng(16)
    b = GraphBuilder("odd_channels", opset=13)
    x = b.input("x", (1, 3, 13, 13))
    y = b.op("Relu", [_conv(b, rng, x, 3, 12, name="c3")])
    y = b.op("Relu", [_conv(b, rng, y, 12, 20, name="c12")])
    y = b.op("Relu", [_conv(b, rng, y, 20, odd, name="c20")])
    y = _conv(b, rng, y, odd, 10, strides=(2, 2), name="codd")
    b.output(b.op("Add", [y, _conv(b, rng, x, 3, 10, (1, 1), (0, 0, 0, 0), (2, 2), name="s")]))
    plan = _check(b.build())
    assert _kinds(plan).count("conv") == 5 and "repack" in _kinds(plan)


def test_residual_from_a_node_step_is_packed_to_the_output_layout():
    rng = np.random.default_rng(17)
    b = GraphBuilder("packed_residual", opset=13)
    x = b.input("x", (1, 16, 8, 8))
    s = b.op("Sigmoid", [x], name="sig")
    b.output(b.op("Relu", [b.op("Add", [_conv(b, rng, x, 16, 16, name="c"), s])]))
    plan = _check(b.build())
    assert _step(plan, "c").kind == "conv" and "+" in _step(plan, "c").name
    assert _kinds(plan).count("pack") == 2  # x for the conv, sig as its residual


def test_nodes_without_cpu_kernels_run_on_numpy_and_are_reported():
    rng = np.random.default_rng(18)
    b = GraphBuilder("numpy_nodes", opset=13)
    x = b.input("x", (1, 16, 9, 9))
    y = b.op("Elu", [_conv(b, rng, x, 16, 16, name="c")], name="elu")
    y = b.op("MaxPool", [y], name="ceil_pool", kernel_shape=(2, 2), strides=(2, 2), ceil_mode=1)
    b.output(_conv(b, rng, y, 16, 16, name="d"))
    plan = _check(b.build())
    assert set(plan.numpy_nodes) == {"elu", "ceil_pool"}
    assert "ceil_mode" in plan.numpy_nodes["ceil_pool"]
    assert "node/numpy" in str(plan)


def test_graph_output_inside_a_chain_is_not_fused_away():
    rng = np.random.default_rng(19)
    b = GraphBuilder("mid_output", opset=13)
    x = b.input("x", (1, 16, 8, 8))
    y = _conv(b, rng, x, 16, 16, name="c")
    b.output(y, b.op("Relu", [y], name="relu"))
    plan = _check(b.build())
    assert _step(plan, "c").name == "c"


# ----- the executor on top ------------------------------------------------------------------
def test_float_executor_uses_the_plan_and_times_every_node():
    from compiler.driver.compile_model import _float_model
    from runtime.float_executor import FloatExecutor

    g = optimize(resnet18(seed=2, image=32, width=16))
    fm = _float_model(g)
    feeds = _feeds(g, 4)
    ex = FloatExecutor(fm)
    assert ex.plan is not None and ex.plan_error == ""
    run = ex.run(feeds, repeats=3)
    node_path = FloatExecutor(fm, use_plan=False).run(feeds)
    ref = run_graph(g, feeds)["logits"]
    for out in (run.outputs["logits"], node_path.outputs["logits"]):
        assert np.abs(out - ref).max() <= RTOL * np.abs(ref).max()
    assert set(run.node_us) == {n.name for n in fm.nodes} and run.total_us > 0
    assert run.node_us["conv1"] > 0 and run.node_us["relu"] == 0.0  # fused into conv1
    assert len(run.step_us) == len(ex.plan.steps) and run.numpy_nodes == {}
    assert sum(run.node_us.values()) == pytest.approx(sum(run.step_us.values()))


def test_batch_two_and_grouped_convs_fall_back():
    rng = np.random.default_rng(20)
    b = GraphBuilder("batch2", opset=13)
    x = b.input("x", (2, 16, 10, 10))
    y = b.op("Relu", [_conv(b, rng, x, 16, 32, strides=(2, 2), name="c")], name="relu")
    dw = b.const("dw.weight", _w(rng, 32, 1, 3, 3))
    y = b.op("Conv", [y, dw], name="dw", kernel_shape=(3, 3), pads=(1, 1, 1, 1), group=32)
    y = b.op("Relu", [_conv(b, rng, y, 32, 32, name="c2")], name="relu2")
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y], name="gap")], name="flat")
    fc = b.const("fc.w", (rng.standard_normal((5, 32)) / 6).astype(np.float32))
    b.output(b.op("Gemm", [y, fc, b.const("fc.b", np.ones(5, np.float32))], name="fc", transB=1))
    plan = _check(b.build())
    assert _step(plan, "dw").kind == "node" and _step(plan, "c2").name == "c2+relu2"
    assert _step(plan, "gap").kind == "gap" and _step(plan, "fc").kind == "dense"


def test_float_executor_runs_node_by_node_when_the_planner_refuses(monkeypatch):
    import runtime.float_executor as fe
    from compiler.cpu.float_plan import PlanError
    from compiler.driver.compile_model import _float_model

    def refuse(_fm):
        raise PlanError("refused for the test")

    monkeypatch.setattr(fe, "plan_float_model", refuse)
    g = optimize(resnet18(seed=3, image=32, width=16))
    feeds = _feeds(g, 5)
    ex = fe.FloatExecutor(_float_model(g))
    assert ex.plan is None and ex.plan_error == "refused for the test"
    run = ex.run(feeds, repeats=2)
    ref = run_graph(g, feeds)["logits"]
    assert np.abs(run.outputs["logits"] - ref).max() <= RTOL * np.abs(ref).max()
    assert set(run.step_us) == {n.name for n in g.nodes}


@pytest.mark.parametrize("bn_in,pad_in,bn_out,pad_out", [(6, 1, 4, 0), (4, 0, 12, 2), (3, 2, 3, 1)])
def test_layout_conversions_are_exact(bn_in, pad_in, bn_out, pad_out):
    from compiler.cpu import layout, ops

    x = np.random.default_rng(21).standard_normal((2, 12, 5, 7)).astype(np.float32)
    xb = layout.pack_nchwc_numpy(x, bn_in, (pad_in, pad_in))
    blocks = (bn_in, pad_in, bn_out, pad_out)
    rep = ops.kernel(("t_repack", *blocks), lambda: layout.repack_nchwc(2, 12, 5, 7, *blocks))
    out = np.zeros_like(layout.pack_nchwc_numpy(x, bn_out, (pad_out, pad_out)))
    rep(xb, out)
    np.testing.assert_array_equal(out, layout.pack_nchwc_numpy(x, bn_out, (pad_out, pad_out)))
    unp = ops.kernel(
        ("t_unpack", bn_in, pad_in), lambda: layout.unpack_nchwc(2, 12, 5, 7, bn_in, in_pad=pad_in)
    )
    back = np.empty_like(x)
    unp(xb, back)
    np.testing.assert_array_equal(back, x)
