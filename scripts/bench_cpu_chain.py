"""A ResNet-18-sized chain of layers for `bench_cpu.py`: vtac kernels vs onnxruntime.

The network is ResNet-18 for one 224x224 image with batch-norm folded into the convolution
biases (inference): conv1 7x7/2 + ReLU, max-pool 3x3/2, four stages of two basic blocks
(3x3 convs, 1x1/2 downsample convs on the stage changes, residual adds), global average
pooling and a 512 -> 1000 dense layer.

vtac runs it as a sequence of its NCHWc kernels: every activation stays in NCHWc with a zero
border of 1 pixel, so convolutions read their padding from the border and write their output
into the next layer's padded buffer (no copies); ReLU, bias and the residual add are fused
into the convolution epilogue. The timed run includes packing the NCHW input image; weight
packing happens once, beforehand (as onnxruntime prepacks its constant weights).
onnxruntime runs the equivalent ONNX graph (Conv, Relu, Add, MaxPool, GlobalAveragePool,
Flatten, Gemm) with all graph optimizations.
"""

from __future__ import annotations

import numpy as np

from compiler.cpu import layout, ops
from compiler.cpu.conv2d import Conv2dShape, conv2d_nchwc, default_knobs
from compiler.cpu.dense import default_dense_knobs, dense, pack_dense_weight
from compiler.cpu.pool_nchwc import global_avg_pool_nchwc, max_pool_nchwc
from compiler.llvm import vector_lanes, vector_registers

BORDER = 1  # zero border of every NCHWc activation buffer


class Chain:
    """Builds the network twice: a list of vtac kernel calls and an ONNX graph."""

    def __init__(self, rng):
        self.rng = rng
        self.steps = []  # (kernel, args) in execution order
        self.nodes, self.inits = [], []
        self.flops = 0
        self.lanes, self.regs = vector_lanes(), vector_registers()

    def _param(self, name, arr):
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def conv(self, x, onnx_in, c, o, k, s, relu, residual=None, name=""):
        """x = (buffer, H); returns ((out buffer, OH), onnx output name)."""
        from onnx import helper

        buf, h = x
        pad = (k - 1) // 2
        shape = Conv2dShape(1, c, h, h, o, k, k, (s, s), (pad, pad))
        kn = default_knobs(shape, self.lanes, self.regs)
        if buf.shape[-1] != kn.ic_bn:
            raise AssertionError(f"{name}: producer block {buf.shape[-1]} != ic_bn {kn.ic_bn}")
        w = (self.rng.standard_normal((o, c, k, k)) * np.sqrt(1.0 / (c * k * k))).astype(np.float32)
        b = (self.rng.standard_normal(o) * 0.1).astype(np.float32)
        in_pad = (buf.shape[2] - h) // 2
        oh, _ = shape.out_hw
        out = np.zeros((1, o // kn.oc_bn, oh + 2 * BORDER, oh + 2 * BORDER, kn.oc_bn), np.float32)
        key = ("chain_conv", shape, kn, relu, residual is not None, in_pad)
        kern = ops.kernel(
            key,
            lambda: conv2d_nchwc(
                shape,
                kn,
                True,
                relu,
                in_pad=(in_pad, in_pad),
                out_pad=BORDER,
                residual=residual is not None,
            ),
        )
        args = [buf, layout.pack_conv_weight(w, kn.ic_bn, kn.oc_bn), b.reshape(-1, kn.oc_bn)]
        if residual is not None:
            args.append(residual[0][0])
        self.steps.append((kern, args + [out]))
        self.flops += shape.flops
        y = f"{name}_y"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [onnx_in, self._param(f"{name}_w", w), self._param(f"{name}_b", b)],
                [y],
                pads=[pad] * 4,
                strides=[s, s],
                kernel_shape=[k, k],
            )
        )
        if residual is not None:
            self.nodes.append(helper.make_node("Add", [y, residual[1]], [f"{name}_sum"]))
            y = f"{name}_sum"
        if relu:
            self.nodes.append(helper.make_node("Relu", [y], [f"{name}_relu"]))
            y = f"{name}_relu"
        return (out, oh), y

    def block(self, x, onnx_in, c, o, s, name):
        y, yn = self.conv(x, onnx_in, c, o, 3, s, True, name=f"{name}a")
        if s != 1 or c != o:
            r = self.conv(x, onnx_in, c, o, 1, s, False, name=f"{name}ds")
        else:
            r = (x, onnx_in)
        return self.conv(y, yn, o, o, 3, 1, True, residual=r, name=f"{name}b")


def build_chain(rng):
    from onnx import TensorProto, helper

    ch = Chain(rng)
    image = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    packed = np.zeros((1, 1, 230, 230, 3), np.float32)
    pack = ops.kernel(("chain_pack",), lambda: layout.pack_nchwc(1, 3, 224, 224, 3, (3, 3)))
    ch.steps.append((pack, [image, packed]))
    x, xn = ch.conv((packed, 224), "image", 3, 64, 7, 2, True, name="conv1")
    pooled = np.zeros((1, x[0].shape[1], 56 + 2, 56 + 2, x[0].shape[-1]), np.float32)
    mp = ops.kernel(
        ("chain_maxpool",),
        lambda: max_pool_nchwc(1, x[0].shape[1], 112, 112, x[0].shape[-1], 3, 2, 1, 1, 1),
    )
    ch.steps.append((mp, [x[0], pooled]))
    ch.nodes.append(
        helper.make_node(
            "MaxPool", [xn], ["pool"], kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2]
        )
    )
    x, xn = (pooled, 56), "pool"
    c = 64
    for stage, o in enumerate((64, 128, 256, 512)):
        for blk in range(2):
            s = 2 if (stage > 0 and blk == 0) else 1
            x, xn = ch.block(x, xn, c, o, s, name=f"l{stage + 1}b{blk}")
            c = o
    buf, h = x
    cb, bn = buf.shape[1], buf.shape[-1]
    feat = np.zeros((1, cb, bn), np.float32)
    gap = ops.kernel(
        ("chain_gap", cb, bn, h), lambda: global_avg_pool_nchwc(1, cb, h, h, bn, BORDER)
    )
    ch.steps.append((gap, [buf, feat]))
    fc_w = (rng.standard_normal((1000, 512)) / np.sqrt(512)).astype(np.float32)
    fc_b = (rng.standard_normal(1000) * 0.1).astype(np.float32)
    kn = default_dense_knobs(1, 512, 1000, vector_lanes())
    fc = ops.kernel(("chain_fc", kn), lambda: dense(1, 512, 1000, kn, bias=True))
    logits = np.zeros((1, 1, 1000), np.float32)
    ch.steps.append(
        (fc, [feat.reshape(1, 1, 512), pack_dense_weight(fc_w.T.copy(), kn.nb)[None], fc_b, logits])
    )
    ch.flops += 2 * 512 * 1000
    ch.nodes += [
        helper.make_node("GlobalAveragePool", [xn], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node(
            "Gemm", ["flat", ch._param("fc_w", fc_w), ch._param("fc_b", fc_b)], ["logits"], transB=1
        ),
    ]
    graph = helper.make_graph(
        ch.nodes,
        "resnet18_chain",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        ch.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ch, image, logits, model


def chain_systems(threads: int, rng):
    """({"vtac": run, "ort": run}, flops, extra) after checking both compute the same logits."""
    from scripts.bench_cpu import ort_session

    ch, image, logits, model = build_chain(rng)
    sess = ort_session(model, threads)

    def run_vtac():
        for kern, args in ch.steps:
            kern(*args)

    run_vtac()
    ref = sess.run(None, {"image": image})[0]
    err = float(np.abs(logits[0] - ref).max() / np.abs(ref).max())
    if err > 1e-3:
        raise AssertionError(f"resnet18 chain: vtac and onnxruntime differ (max rel err {err:.2e})")
    return (
        {"vtac": run_vtac, "ort": lambda: sess.run(None, {"image": image})},
        ch.flops,
        {"kernels": len(ch.steps), "max_rel_err": err},
    )
