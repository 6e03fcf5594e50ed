"""A ResNet-18 (standard layers, random seeded weights) through every graph pass."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend.onnx_import import import_onnx
from compiler.graph.passes.fuse_ops import group_table
from compiler.graph.passes.partition import partition_report
from compiler.graph.pipeline import compile_for_accel
from compiler.graph.quant.report import quantization_error
from tests.graph.models import resnet18


def _run(cfg, image, samples=2):
    rng = np.random.default_rng(7)
    graph = import_onnx(resnet18(seed=3, image=image))
    feeds = [
        {"input": rng.standard_normal((1, 3, image, image)).astype(np.float32)}
        for _ in range(samples + 1)
    ]
    result = compile_for_accel(graph, cfg, feeds[:samples], verify_each=True)
    return graph, result, feeds


def _check(cfg, graph, result, feeds):
    g = result.graph
    convs = [n for n in g.nodes if n.op == "vtac.conv2d"]
    # 1 stem + 16 in basic blocks + 3 downsample + the global average pool (a depthwise conv)
    assert len(convs) == 21 and convs[-1].name == "globalaveragepool234"
    assert all(n.target == "accel" and n.attr("packed") == 1 for n in convs)
    dense = [n for n in g.nodes if n.op == "vtac.dense"]
    assert len(dense) == 1 and dense[0].target == "accel"
    # The 3-channel 7x7 stem runs as a 1x1 conv over its 3*7*7 = 147 im2col channels (gathered
    # on the CPU), padded to whole blocks of input channels.
    stem = convs[0]
    (gather,) = [n for n in g.nodes if n.op == "vtac.im2col"]
    assert gather.target == "cpu" and gather.attr("kernel_shape") == (7, 7)
    cin_blocks = -(-147 // cfg.block)
    assert g.types[stem.inputs[0]].shape[1] == cin_blocks
    assert g.types[stem.inputs[0]].shape[-1] == cfg.block
    assert g.types[stem.inputs[1]].shape[1:] == (cin_blocks, 1, 1, cfg.block, cfg.block)
    # No float BN or conv is left; what stays on the CPU is listed with its reason.
    assert not {"BatchNormalization", "Conv", "Gemm"} & {n.op for n in g.nodes}
    report = partition_report(g)
    assert report.cpu_macs == 0 and report.accel_macs > 0
    text = report.render()
    # the stem's max pool and the global pool (a depthwise conv) are int8 on the accelerator
    assert "  MaxPool: " not in text and "  GlobalAveragePool: " not in text
    for op in ("vtac.quantize", "vtac.dequantize", "vtac.pack",
               "vtac.unpack"):  # fmt: skip
        assert f"  {op}: " in text
    # Fusion: each conv's group holds its requantize (and residual add) epilogue.
    groups = dict(group_table(g))
    by_name = {n.name: n for n in g.nodes}
    for conv in convs:
        members = [by_name[m].op for m in groups[conv.group]]
        assert members[0] == "vtac.conv2d" and members[-1] == "vtac.requantize"
        assert set(members) <= {"vtac.conv2d", "vtac.add", "vtac.requantize"}
    assert sum(1 for n in g.nodes if n.op == "vtac.add") == 8
    # Accuracy cost of int8, stated (and bounded loosely: random weights, 2 samples).
    err = quantization_error(graph, g, feeds[-1:])[0]
    assert err.rel_l2 < 0.15, err
    return err


def test_resnet18_small_image_through_every_pass(cfg):
    graph, result, feeds = _run(cfg, image=32)
    _check(cfg, graph, result, feeds)


@pytest.mark.slow
def test_resnet18_imagenet_size_through_every_pass(cfg):
    graph, result, feeds = _run(cfg, image=224)
    err = _check(cfg, graph, result, feeds)
    print(f"ResNet-18 224x224 {cfg.name}: rel L2 {err.rel_l2:.4f}, max abs {err.max_abs:.4f}")
