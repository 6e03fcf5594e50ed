"""The built-in MobileNet- and YOLO-style models: structure, shapes, determinism, and the float
graph against onnxruntime on the exported ONNX file."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from compiler.frontend.onnx_import import export_onnx
from compiler.graph.executor import run_graph
from compiler.graph.passes.partition import node_macs
from compiler.models import BUILTIN_MODELS, mobilenet, yolo


def _ops(g) -> Counter:
    return Counter(n.op for n in g.nodes)


def test_registered_as_builtins():
    assert {"resnet18", "mobilenet", "yolo"} <= BUILTIN_MODELS.keys()


def test_mobilenet_structure():
    g = mobilenet(image=160)
    assert g.types["logits"].shape == (1, 1000)
    dw = [n for n in g.nodes if n.op == "Conv" and n.attr("group", 1) > 1]
    kernels = {(tuple(n.attr("kernel_shape")), tuple(n.attr("strides"))) for n in dw}
    # depthwise 3x3 and 5x5, stride 1 and 2, one channel per group
    assert {((3, 3), (1, 1)), ((3, 3), (2, 2)), ((5, 5), (1, 1)), ((5, 5), (2, 2))} <= kernels
    for n in dw:
        assert g.types[n.inputs[1]].shape[1] == 1
    ops = _ops(g)
    assert ops["Clip"] == ops["Conv"] - len([n for n in g.nodes if n.name.endswith("project")])
    assert ops["Add"] == 10 and ops["GlobalAveragePool"] == 1 and ops["Gemm"] == 1
    # MobileNet-V2 1.0 at 224 is ~300 M MACs (a bit more here: 5x5 depthwise); at 160 half
    macs = sum(node_macs(n, g) for n in g.nodes)
    assert 1.4e8 < macs < 2.0e8


def test_yolo_structure():
    g = yolo(image=320)
    assert [g.types[o].shape for o in g.outputs] == [
        (1, 144, 40, 40), (1, 144, 20, 20), (1, 144, 10, 10)
    ]  # fmt: skip
    ops = _ops(g)
    # every Conv block ends in SiLU = Sigmoid * Mul; the six 1x1 head convs have none
    assert ops["Sigmoid"] == ops["Mul"] == ops["Conv"] - 6
    assert ops["Split"] == 8 and ops["MaxPool"] == 3 and ops["Resize"] == 2
    assert ops["Concat"] == 8 + 1 + 4 + 3  # C2f, SPPF, neck, detect heads
    pools = [n for n in g.nodes if n.op == "MaxPool"]
    assert all(tuple(n.attr("kernel_shape")) == (5, 5) for n in pools)
    # YOLOv8-n is 8.7 GFLOPs at 640x640: ~1.1 G MACs at 320x320
    macs = sum(node_macs(n, g) for n in g.nodes)
    assert 1.0e9 < macs < 1.2e9


def test_yolo_rejects_bad_image():
    with pytest.raises(ValueError, match="multiple of 32"):
        yolo(image=100)


@pytest.mark.parametrize("name", ["mobilenet", "yolo"])
def test_deterministic_weights(name):
    a, b = BUILTIN_MODELS[name](image=64), BUILTIN_MODELS[name](image=64)
    c = BUILTIN_MODELS[name](image=64, seed=1)
    assert a.constants.keys() == b.constants.keys()
    assert all(np.array_equal(a.constants[k], b.constants[k]) for k in a.constants)
    assert any(not np.array_equal(a.constants[k], c.constants[k]) for k in a.constants)


@pytest.mark.parametrize(("name", "image"), [("mobilenet", 96), ("yolo", 64)])
def test_float_matches_onnxruntime(name, image, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    g = BUILTIN_MODELS[name](image=image)
    x = {"input": np.random.default_rng(3).standard_normal((1, 3, image, image), np.float32)}
    path = tmp_path / f"{name}.onnx"
    export_onnx(g, path)
    theirs = ort.InferenceSession(str(path)).run(None, x)
    ours = run_graph(g, x)
    for out, ref in zip(g.outputs, theirs, strict=True):
        scale = float(np.abs(ref).max())
        assert scale > 1.0  # the activations keep a realistic range through the network
        np.testing.assert_allclose(ours[out], ref, atol=1e-5 * scale, rtol=0)
