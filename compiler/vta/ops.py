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
from compiler.te.ops.multiply import hardswish_stages
from compiler.te.tensor import Tensor, placeholder
from hw_sim.config import HwConfig


@dataclass
class VtaOp:
    """An operator ready for `schedule_vta`: tensors by role, and how to pack its inputs.

    `pack[name](array)` maps a plain input (NCHW / OIHW / NK / bias (O,)) to packed arrays by
    DRAM buffer name; `unpack` maps the packed output back.
    """

    name: str
    kind: str  # "conv2d" | "group_conv2d" | "dense" | "elementwise"
    data: Tensor
    kernel: Tensor | None  # None for element-wise operators
    gemm: Tensor | None
    pad: Tensor | None
    epilogue: list[Tensor]
    acc_inputs: list[tuple[Tensor, Tensor]]  # (placeholder, the ALU stage reading it)
    output: Tensor
    workload: dict
    bias_gemm: tuple[Tensor, Tensor, Tensor] | None = None  # (row, digits, stage)
    acc_loads: list[Tensor] = field(default_factory=list)  # stages DMA'd into the accumulator
    pack: dict[str, Callable[[np.ndarray], dict[str, np.ndarray]]] = field(default_factory=dict)
    unpack: Callable[[np.ndarray], np.ndarray] | None = None
    steps: list[tuple] = field(default_factory=list)  # the epilogue's step list, as given

    @property
    def params(self) -> list[Tensor]:
        extra = list(self.bias_gemm[:2]) if self.bias_gemm else []
        loads = [t.op.inputs[0] for t in self.acc_loads]
        out: list[Tensor] = []
        for t in [self.data, self.kernel, *extra, *(p for p, _ in self.acc_inputs), *loads]:
            if t is not None and all(t is not u for u in out):
                out.append(t)
        return out

    @property
    def alu_bias(self) -> bool:
        """Whether the ALU adds the bias (a bias tile in the accumulator, `bias_on="alu"`)."""
        return any(t.name == "bias" for t, _ in self.acc_inputs)

    @property
    def inputs(self) -> list[str]:
        """Names of the plain inputs `pack` accepts."""
        return list(self.pack)


def epilogue_steps(shift=8, bias=True, residual=False, clip=(0, 127), relu=False) -> list[tuple]:
    """The step list for the keyword form: >> shift, + bias, + residual, clip or relu."""
    steps: list[tuple] = []
    if shift:
        steps.append(("shr", shift))
    if bias:
        steps.append(("bias",))
    if residual:
        steps.append(("residual", 0))
    if clip is not None:
        steps.append(("clip", clip[0], clip[1]))
    elif relu:
        steps.append(("relu",))
    return steps


# SHR immediates every VTA implementation reads alike (vta-isa.md §2.5: HLS takes the low 5
# bits as signed, Chisel a positive amount as unsigned): longer shifts become several SHRs.
MAX_PORTABLE_SHIFT = 15


def shift_stages(x: Tensor, n: int, name: str) -> list[Tensor]:
    """`x >> n` (n < 0: `x << -n`) as a chain of ALU stages with immediates in -15..15, exact
    because arithmetic right shifts and 32-bit left shifts compose (`(x >> a) >> b == x >> (a +
    b)`, saturating at the sign bits / zero). The last stage is named `name`."""
    op = nn.shift_right if n >= 0 else nn.shift_left
    parts = []
    rest = abs(n)
    while True:
        step = min(rest, MAX_PORTABLE_SHIFT)
        rest -= step
        parts.append(step)
        if not rest:
            break
    out = []
    for k, step in enumerate(parts):
        x = op(x, step, name=name if k == len(parts) - 1 else f"{name}.part{k}")
        out.append(x)
    return out


def _epilogue(
    x: Tensor,
    cfg: HwConfig,
    cb_dims: int,
    steps: list[tuple],
    chan_shape: tuple[int, ...],
    bias_on: str,
    name: str,
):
    """Element-wise stages after the GEMM, in order. Steps:

    ("shr", n) arithmetic shift (n < 0 shifts left); ("add_imm", c); ("bias",) int32 per output
    channel; ("shr_chan",) arithmetic right shift by a per-output-channel amount (a shift row
    loaded into the accumulator like the ALU bias, amounts 0..15 to be portable); ("mul_chan",)
    int32 product with a per-output-channel multiplier row (a tensor MUL; ALU_MUL configs only);
    ("residual", s)
    + (int8 residual << s); ("residual_max", s) max with (int8 residual << s) (a tensor-operand
    ALU MAX); ("max", v); ("min", v); ("clip", lo, hi); ("relu",); ("hardswish", offset, six,
    mult, pre_shift, bias): ((x * clip(x + offset, 0, six) * mult) >> pre_shift) + bias (the
    ALU's MUL; a zero tile and a copy of x). The result is cast to int8 (the accelerator stores
    the low 8 bits).
    """
    stages, acc_inputs, acc_loads, bias_gemm = [], [], [], None
    for n, step in enumerate(steps):
        kind, args = step[0], step[1:]
        seen = sum(1 for st in steps[:n] if st[0] == kind)
        tag = f"{name}.{kind}" + (str(seen) if seen else "")
        if kind == "shr":
            *parts, x = shift_stages(x, args[0], tag)
            stages += parts
        elif kind == "add_imm":
            x = nn.add_imm(x, args[0], name=tag)
        elif kind == "hardswish":  # needs the ALU's MUL (compiler/vta/mul_ops.py)
            *parts, x = hardswish_stages(x, None, *args, name=tag)
            stages += parts
        elif kind == "bias" and bias_on == "gemm":
            if bias_gemm is not None or any(t.name == "bias" for t, _ in acc_inputs):
                raise ValueError(f"{name}: one bias step at most")
            row = placeholder((cfg.batch, cfg.block_in), "int8", "bias_row")
            digits = placeholder((*chan_shape, cfg.block_out, cfg.block_in), "int8", "bias_digits")
            x = nn.add_channel_bias_gemm(x, row, digits, cb_dims, name=tag)
            bias_gemm = (row, digits, x)
        elif kind == "bias":
            b = placeholder((*chan_shape, cfg.batch, cfg.block_out), "int32", "bias")
            x = nn.add_channel_bias(x, b, cb_dims, name=tag)
            acc_inputs.append((b, x))
        elif kind == "shr_chan":
            if any(t.name == "shift" for t, _ in acc_inputs):
                raise ValueError(f"{name}: one per-channel shift step at most")
            s = placeholder((*chan_shape, cfg.batch, cfg.block_out), "int32", "shift")
            x = nn.shift_right_channel(x, s, cb_dims, name=tag)
            acc_inputs.append((s, x))
        elif kind == "mul_chan":  # fixed-point requantization (per_channel_epilogue.py)
            if not cfg.ALU_MUL:
                raise ValueError(f"{name}: a per-channel multiply needs the ALU's MUL (ALU_MUL)")
            if any(t.name == "mult" for t, _ in acc_inputs):
                raise ValueError(f"{name}: one per-channel multiply step at most")
            m = placeholder((*chan_shape, cfg.batch, cfg.block_out), "int32", "mult")
            x = nn.multiply_channel(x, m, cb_dims, name=tag)
            acc_inputs.append((m, x))
        elif kind in ("residual", "residual_max"):
            if acc_loads:
                raise ValueError(f"{name}: one residual step at most")
            r = placeholder(x.shape, "int8", "residual")
            r32 = nn.cast_to(r, "int32", name="residual.acc")
            acc_loads.append(r32)
            if args and args[0]:
                stages += shift_stages(r32, -args[0], f"{tag}.shl")
                r32 = stages[-1]
            x = (nn.add if kind == "residual" else nn.maximum_tensor)(x, r32, name=tag)
        elif kind in ("max", "min", "relu", "clip"):
            if kind == "clip":
                a, x = nn.clip(x, args[0], args[1], name=tag)
                stages.append(a)
            elif kind == "relu":
                x = nn.relu(x, name=tag)
            else:
                x = (nn.maximum if kind == "max" else nn.minimum)(x, args[0], name=tag)
        else:
            raise ValueError(f"{name}: unknown epilogue step {step!r}")
        stages.append(x)
    out = nn.cast_to(x, "int8", name=f"{name}.out")
    return stages, acc_inputs, acc_loads, bias_gemm, out


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


def _shift_packer(cfg: HwConfig, chan_shape: tuple[int, ...]):
    """(O,) per-channel shift amounts -> the shift row tile, laid out like the ALU bias."""

    def pack(v):
        v = np.asarray(v)
        if v.size and (v.min() < 0 or v.max() > MAX_PORTABLE_SHIFT):
            raise ValueError(f"per-channel shifts must be in 0..{MAX_PORTABLE_SHIFT}")
        row = layout.pack_bias(v.astype(np.int32), cfg.batch, cfg.block_out)
        return {"shift": row.reshape(*chan_shape, cfg.batch, cfg.block_out)}

    return pack


def _mult_packer(cfg: HwConfig, chan_shape: tuple[int, ...]):
    """(O,) per-channel int32 multipliers -> the multiplier row tile, laid out like the bias."""

    def pack(v):
        row = layout.pack_bias(np.asarray(v).astype(np.int32), cfg.batch, cfg.block_out)
        return {"mult": row.reshape(*chan_shape, cfg.batch, cfg.block_out)}

    return pack


def conv2d_op(
    cfg: HwConfig,
    n: int,
    ci: int,
    h: int,
    w: int,
    co: int,
    k: int | tuple[int, int],
    stride: int | tuple[int, int],
    pad: int,
    groups: int = 1,
    shift: int | None = 8,
    bias: bool = True,
    residual: bool = False,
    clip: tuple[int, int] | None = (0, 127),
    relu: bool = False,
    bias_on: str = "gemm",
    name: str = "conv2d",
    epilogue: list[tuple] | None = None,
) -> VtaOp:
    """conv2d (or grouped conv2d) + epilogue; channels are padded up to whole blocks.

    The epilogue is `epilogue` (a step list, see `_epilogue`) or, if None, the keyword form
    `epilogue_steps(shift, bias, residual, clip, relu)` (VTA's benchmark by default).
    `k` and `stride` are one int (square) or (rows, columns): a stride-(2, 1) depthwise conv,
    a global average pool over a non-square input.
    """
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    nb = cdiv(n, bt)
    (kh, kw), (sh, sw) = nn.pair(k), nn.pair(stride)
    oh, ow = (h + 2 * pad - kh) // sh + 1, (w + 2 * pad - kw) // sw + 1
    if groups == 1:
        cib, cob = cdiv(ci, bi), cdiv(co, bo)
        data = placeholder((nb, cib, h, w, bt, bi), "int8", "data")
        kernel = placeholder((cob, cib, kh, kw, bo, bi), "int8", "kernel")
        gemm = nn.conv2d_packed(data, kernel, (sh, sw), pad, name=name)
        cb_dims, chan_shape, kind = 1, (cob,), "conv2d"
    else:
        if ci % groups or co % groups or (ci // groups) % bi or (co // groups) % bo:
            raise ValueError(
                f"{name}: grouped conv needs whole blocks per group ({ci}/{groups} input and "
                f"{co}/{groups} output channels vs blocks {bi}/{bo})"
            )
        cgb, ogb = ci // groups // bi, co // groups // bo
        data = placeholder((nb, groups * cgb, h, w, bt, bi), "int8", "data")
        kernel = placeholder((groups, ogb, cgb, kh, kw, bo, bi), "int8", "kernel")
        gemm = nn.group_conv2d_packed(data, kernel, (sh, sw), pad, name=name)
        cb_dims, chan_shape, kind = 2, (groups, ogb), "group_conv2d"
    steps = epilogue if epilogue is not None else epilogue_steps(shift, bias, residual, clip, relu)
    stages, acc_inputs, acc_loads, bias_gemm, out = _epilogue(
        gemm, cfg, cb_dims, steps, chan_shape, bias_on, name
    )
    padt = gemm.op.inputs[0] if gemm.op.inputs[0] is not data else None
    # k / stride are the rows'; the columns' are recorded only when they differ, so that the
    # workloads (and tuning-record keys) of square convolutions are unchanged.
    workload = dict(n=n, ci=ci, h=h, w=w, co=co, k=kh, stride=sh, pad=pad, groups=groups)
    if kw != kh:
        workload["kw"] = kw
    if sw != sh:
        workload["stride_w"] = sw
    workload.update(oh=oh, ow=ow)
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
        workload,
        bias_gemm,
        acc_loads,
    )
    op.steps = list(steps)
    op.pack["data"] = lambda x: {"data": layout.pack_nchw(x, bt, bi)}
    if groups == 1:
        op.pack["kernel"] = lambda x: {"kernel": layout.pack_oihw(x, bo, bi)}
    else:
        op.pack["kernel"] = lambda x: {"kernel": layout.pack_group_oihw(x, groups, bo, bi)}
    if any(st[0] == "bias" for st in steps):
        op.pack["bias"] = _bias_packer(op, cfg, chan_shape)
    if any(st[0] == "shr_chan" for st in steps):
        op.pack["shift"] = _shift_packer(cfg, chan_shape)
    if any(st[0] == "mul_chan" for st in steps):
        op.pack["mult"] = _mult_packer(cfg, chan_shape)
    if acc_loads:
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
    epilogue: list[tuple] | None = None,
) -> VtaOp:
    """dense (out = data @ weight^T) + epilogue (as for `conv2d_op`), packed."""
    bt, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    nb, kb, mb = cdiv(n, bt), cdiv(k, bi), cdiv(m, bo)
    data = placeholder((nb, kb, bt, bi), "int8", "data")
    weight = placeholder((mb, kb, bo, bi), "int8", "kernel")
    gemm = nn.dense_packed(data, weight, name=name)
    steps = epilogue if epilogue is not None else epilogue_steps(shift, bias, residual, clip, relu)
    stages, acc_inputs, acc_loads, bias_gemm, out = _epilogue(
        gemm, cfg, 1, steps, (mb,), bias_on, name
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
        acc_loads,
    )
    op.steps = list(steps)
    op.pack["data"] = lambda x: {"data": layout.pack_nk(x, bt, bi)}
    op.pack["kernel"] = lambda x: {"kernel": layout.pack_nk(x, bo, bi)}
    if any(st[0] == "bias" for st in steps):
        op.pack["bias"] = _bias_packer(op, cfg, (mb,))
    if any(st[0] == "shr_chan" for st in steps):
        op.pack["shift"] = _shift_packer(cfg, (mb,))
    if any(st[0] == "mul_chan" for st in steps):
        op.pack["mult"] = _mult_packer(cfg, (mb,))
    if acc_loads:
        op.pack["residual"] = lambda x: {"residual": layout.pack_nk(x, bt, bo)}
    op.unpack = lambda y: layout.unpack_nk(y, n, m)
    return op
