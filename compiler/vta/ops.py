"""Accelerator operators: a tensor-expression chain plus what scheduling and packing need.

`conv2d_op`, `dense_op` build GEMM + epilogue chains in packed layouts:
    gemm (int32) -> [>> shift] -> [+ bias] -> [+ residual] -> [max lo] -> [min hi] -> int8
The epilogue runs in the accumulator SRAM. Shifts and clips are ALU immediates; an int8 residual
is loaded into the accumulator (8-bit ACC load) and added by the ALU. The int32 bias is added
either by the ALU (`bias_on="alu"`: a bias tile loaded into the accumulator, tensor ADD, two
cycles per row) or by the GEMM unit (`bias_on="gemm"`, the default: the bias as int8 digits
times a constant row, `nn.add_channel_bias_gemm`, one cycle per row) — bit-identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from compiler.te.ops import layout, nn
from compiler.te.tensor import Tensor, placeholder
from hw_sim.config import HwConfig


@dataclass
class VtaOp:
    """An operator ready for `schedule_vta`: tensors by role, and how to pack its inputs.

    `pack[name](array)` maps a plain input (NCHW / OIHW / NK / bias (O,)) to packed arrays by
    DRAM buffer name; `unpack` maps the packed output back.
    """

    name: str
    kind: str  # "conv2d" | "group_conv2d" | "dense"
    data: Tensor
    kernel: Tensor
    gemm: Tensor
    pad: Tensor | None
    epilogue: list[Tensor]
    acc_inputs: list[tuple[Tensor, Tensor]]  # (placeholder, the ALU stage reading it)
    output: Tensor
    workload: dict
    bias_gemm: tuple[Tensor, Tensor, Tensor] | None = None  # (row, digits, stage)
    pack: dict[str, Callable[[np.ndarray], dict[str, np.ndarray]]] = field(default_factory=dict)
    unpack: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def params(self) -> list[Tensor]:
        extra = list(self.bias_gemm[:2]) if self.bias_gemm else []
        return [self.data, self.kernel] + extra + [p for p, _ in self.acc_inputs]

    @property
    def inputs(self) -> list[str]:
        """Names of the plain inputs `pack` accepts."""
        return list(self.pack)


def _epilogue(
    x: Tensor,
    cfg: HwConfig,
    cb_dims: int,
    shift,
    bias,
    residual,
    clip,
    relu,
    chan_shape: tuple[int, ...],
    bias_on: str,
    name: str,
):
    stages, acc_inputs, bias_gemm = [], [], None
    if shift:
        x = nn.shift_right(x, shift, name=f"{name}.shr")
        stages.append(x)
    if bias and bias_on == "gemm":
        row = placeholder((cfg.batch, cfg.block_in), "int8", "bias_row")
        digits = placeholder((*chan_shape, cfg.block_out, cfg.block_in), "int8", "bias_digits")
        x = nn.add_channel_bias_gemm(x, row, digits, cb_dims, name=f"{name}.bias")
        stages.append(x)
        bias_gemm = (row, digits, x)
    elif bias:
        b = placeholder((*chan_shape, cfg.batch, cfg.block_out), "int32", "bias")
        x = nn.add_channel_bias(x, b, cb_dims, name=f"{name}.bias")
        stages.append(x)
        acc_inputs.append((b, x))
    if residual:
        r = placeholder(x.shape, "int8", "residual")
        x = nn.add(x, r, name=f"{name}.res")
        stages.append(x)
        acc_inputs.append((r, x))
    if clip is not None:
        a, b2 = nn.clip(x, clip[0], clip[1], name=f"{name}.clip")
        stages += [a, b2]
        x = b2
    elif relu:
        x = nn.relu(x, name=f"{name}.relu")
        stages.append(x)
    out = nn.cast_to(x, "int8", name=f"{name}.out")
    return stages, acc_inputs, bias_gemm, out


def _bias_packer(op: VtaOp, cfg: HwConfig, chan_shape: tuple[int, ...]):
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    if op.bias_gemm:

        def pack(b):
            row, digits = layout.bias_digits(b, bt, bo, bi, what=f"{op.name} bias")
            return {"bias_row": row, "bias_digits": digits.reshape(*chan_shape, bo, bi)}
    else:

        def pack(b):
            return {"bias": layout.pack_bias(b, bt, bo).reshape(*chan_shape, bt, bo)}

    return pack


def conv2d_op(
    cfg: HwConfig,
    n: int,
    ci: int,
    h: int,
    w: int,
    co: int,
    k: int,
    stride: int,
    pad: int,
    groups: int = 1,
    shift: int | None = 8,
    bias: bool = True,
    residual: bool = False,
    clip: tuple[int, int] | None = (0, 127),
    relu: bool = False,
    bias_on: str = "gemm",
    name: str = "conv2d",
) -> VtaOp:
    """conv2d (or grouped conv2d) + epilogue; channels are padded up to whole blocks."""
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    nb = cdiv(n, bt)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if groups == 1:
        cib, cob = cdiv(ci, bi), cdiv(co, bo)
        data = placeholder((nb, cib, h, w, bt, bi), "int8", "data")
        kernel = placeholder((cob, cib, k, k, bo, bi), "int8", "kernel")
        gemm = nn.conv2d_packed(data, kernel, stride, pad, name=name)
        cb_dims, chan_shape, kind = 1, (cob,), "conv2d"
    else:
        if ci % groups or co % groups or (ci // groups) % bi or (co // groups) % bo:
            raise ValueError(
                f"{name}: grouped conv needs whole blocks per group ({ci}/{groups} input and "
                f"{co}/{groups} output channels vs blocks {bi}/{bo})"
            )
        cgb, ogb = ci // groups // bi, co // groups // bo
        data = placeholder((nb, groups * cgb, h, w, bt, bi), "int8", "data")
        kernel = placeholder((groups, ogb, cgb, k, k, bo, bi), "int8", "kernel")
        gemm = nn.group_conv2d_packed(data, kernel, stride, pad, name=name)
        cb_dims, chan_shape, kind = 2, (groups, ogb), "group_conv2d"
    stages, acc_inputs, bias_gemm, out = _epilogue(
        gemm, cfg, cb_dims, shift, bias, residual, clip, relu, chan_shape, bias_on, name
    )
    padt = gemm.op.inputs[0] if gemm.op.inputs[0] is not data else None
    op = VtaOp(
        name,
        kind,
        data,
        kernel,
        gemm,
        padt,
        stages,
        acc_inputs,
        out,
        dict(n=n, ci=ci, h=h, w=w, co=co, k=k, stride=stride, pad=pad, groups=groups, oh=oh, ow=ow),
        bias_gemm,
    )
    op.pack["data"] = lambda x: {"data": layout.pack_nchw(x, bt, bi)}
    if groups == 1:
        op.pack["kernel"] = lambda x: {"kernel": layout.pack_oihw(x, bo, bi)}
    else:
        op.pack["kernel"] = lambda x: {"kernel": layout.pack_group_oihw(x, groups, bo, bi)}
    if bias:
        op.pack["bias"] = _bias_packer(op, cfg, chan_shape)
    if residual:
        op.pack["residual"] = lambda x: {"residual": layout.pack_nchw(x, bt, bo).reshape(out.shape)}
    op.unpack = lambda y: layout.unpack_nchw(y.reshape(nb, -1, oh, ow, bt, bo), n, co)
    return op


def dense_op(
    cfg: HwConfig,
    n: int,
    k: int,
    m: int,
    shift: int | None = 8,
    bias: bool = False,
    residual: bool = False,
    clip: tuple[int, int] | None = (0, 127),
    relu: bool = False,
    bias_on: str = "gemm",
    name: str = "dense",
) -> VtaOp:
    """dense (out = data @ weight^T) + epilogue, packed."""
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    nb, kb, mb = cdiv(n, bt), cdiv(k, bi), cdiv(m, bo)
    data = placeholder((nb, kb, bt, bi), "int8", "data")
    weight = placeholder((mb, kb, bo, bi), "int8", "kernel")
    gemm = nn.dense_packed(data, weight, name=name)
    stages, acc_inputs, bias_gemm, out = _epilogue(
        gemm, cfg, 1, shift, bias, residual, clip, relu, (mb,), bias_on, name
    )
    op = VtaOp(
        name,
        "dense",
        data,
        weight,
        gemm,
        None,
        stages,
        acc_inputs,
        out,
        dict(n=n, k=k, m=m),
        bias_gemm,
    )
    op.pack["data"] = lambda x: {"data": layout.pack_nk(x, bt, bi)}
    op.pack["kernel"] = lambda x: {"kernel": layout.pack_nk(x, bo, bi)}
    if bias:
        op.pack["bias"] = _bias_packer(op, cfg, (mb,))
    if residual:
        op.pack["residual"] = lambda x: {"residual": layout.pack_nk(x, bt, bo)}
    op.unpack = lambda y: layout.unpack_nk(y, n, m)
    return op
