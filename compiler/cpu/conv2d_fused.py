"""NCHW in, NCHW out conv2d as ONE kernel: pack (NCHW -> padded NCHWc), the blocked
convolution, unpack — three parallel stages sharing two runtime temporaries, so a graph node
costs one call and no per-call allocation.

Params: x [N, C, H, W], weight (packed, see conv2d.py), [bias [O/oc_bn, oc_bn],] out NCHW.
"""

from __future__ import annotations

from compiler.cpu.conv2d import Conv2dKnobs, Conv2dShape, conv2d_nchwc
from compiler.cpu.layout import pack_nchwc, unpack_nchwc
from compiler.tir.nodes import Allocate, Buffer, Load, PrimFunc, Store, seq
from compiler.tir.visit import Mutator


class _ReplaceBuffers(Mutator):
    """Point Loads and Stores of some buffers at others (same shape)."""

    def __init__(self, mapping: dict[Buffer, Buffer]):
        self.mapping = mapping

    def visit_Load(self, node):  # noqa: N802
        new = self.mapping.get(node.buffer)
        return node if new is None else Load(new, node.indices)

    def visit_Store(self, node):  # noqa: N802
        new = self.mapping.get(node.buffer)
        return node if new is None else Store(new, node.indices, node.value)


def replace_buffers(stmt, mapping: dict[Buffer, Buffer]):
    for old, new in mapping.items():
        if tuple(old.shape) != tuple(new.shape) or old.dtype != new.dtype:
            raise ValueError(f"replace_buffers: {old.name} and {new.name} differ in shape/type")
    return _ReplaceBuffers(mapping).visit(stmt)


def conv2d_nchw_fused(
    shape: Conv2dShape,
    knobs: Conv2dKnobs,
    bias: bool = False,
    relu: bool = False,
    dtype: str = "float32",
) -> PrimFunc:
    """`dtype` float32, or int8 (int32 bias and output)."""
    s = shape
    oh, ow = s.out_hw
    acc_t = "float32" if dtype == "float32" else "int32"
    pack = pack_nchwc(s.n, s.c, s.h, s.w, knobs.ic_bn, s.pad, dtype)
    conv = conv2d_nchwc(s, knobs, bias, relu, dtype=dtype)
    unpack = unpack_nchwc(s.n, s.o, oh, ow, knobs.oc_bn, acc_t)
    data = Buffer("data_packed", conv.params[0].shape, dtype)
    out = Buffer("out_packed", conv.params[-1].shape, acc_t)
    body = seq(
        replace_buffers(pack.body, {pack.params[1]: data}),
        replace_buffers(conv.body, {conv.params[0]: data, conv.params[-1]: out}),
        replace_buffers(unpack.body, {unpack.params[0]: out}),
    )
    params = (pack.params[0],) + conv.params[1:-1] + (unpack.params[1],)
    return PrimFunc("conv2d_nchw", params, Allocate(data, Allocate(out, body)))
