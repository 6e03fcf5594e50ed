"""HardSwish and element-wise Mul on the ALU's MUL (only for configs with `HwConfig.ALU_MUL`:
VTA's fsim, vtac's hw_sim and RTL implement MUL; VTA's Chisel and HLS do not, so these
programs are not portable to them — `hw_sim/hazards.py` rule `alu-subset` names every MUL).

    op = hardswish_op(cfg, (1, 32, 6, 96), offset=48, six=96, mult=21845, pre_shift=6, bias=0,
                      epilogue=[("add_imm", 1 << 14), ("shr", 15)])
    op = mul_op(cfg, (1, 32, 6, 96), (1, 32, 1, 1), epilogue=[...])   # a squeeze-excite gate

Both are element-wise operators of `compiler/vta/elementwise.py` (same schedule and knobs, the
int8 operands loaded into the accumulator with the 8-bit ACC load). A HardSwish that follows a
conv joins the conv's epilogue instead (`compiler/vta/ops.py`, step "hardswish"); standalone
(after a CPU op or a pool) it loads its input twice, the ALU working in place, and computes per
row of lanes (`compiler/te/ops/multiply.hardswish_stages`, `compiler/graph/hardswish_int.py`):

    g = min(max(x + offset, 0), six)      3 immediate micro-ops
    p = x * g                             1 tensor MUL (two cycles)
    (p * mult) >> pre_shift [+ bias]      1 immediate MUL, SHR [, ADD]; then the requantize's
                                          rounding ADD and SHR (its clamps only when reachable)
"""

from __future__ import annotations

from compiler.te.ops import layout, nn
from compiler.te.ops.multiply import hardswish_stages, multiply, multiply_gate
from compiler.te.tensor import placeholder
from compiler.vta.ops import VtaOp, _epilogue
from hw_sim.config import HwConfig


def _packed(cfg: HwConfig, shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    if len(shape) not in (2, 4):
        raise ValueError(f"{what}: shape must be (N, C) or (N, C, H, W), got {shape}")
    bt, bo = cfg.batch, cfg.block_out
    n, c = shape[:2]
    return (-(-n // bt), -(-c // bo), *shape[2:], bt, bo)


def _finish(cfg, name, a, b, loads, stages, epilogue, shape, workload: dict) -> VtaOp:
    more, acc_inputs, acc_loads, bias_gemm, out = _epilogue(
        stages[-1], cfg, 1, list(epilogue), (a.shape[1],), "alu", name
    )
    if acc_inputs or acc_loads or bias_gemm:
        raise ValueError(f"{name}: the epilogue takes no bias or residual steps")
    # the workload rebuilds the operator (`rebuild`: a tuning task's workload)
    op = VtaOp(name, "elementwise", a, b, None, None, stages + more, [], out,
               dict(workload, shape=tuple(shape)), None, loads)  # fmt: skip
    op.steps = list(epilogue)
    bt, bo = cfg.batch, cfg.block_out
    pack = layout.pack_nchw if len(shape) == 4 else layout.pack_nk
    op.pack["a"] = lambda v: {"a": pack(v, bt, bo)}
    if b is not None:
        op.pack["b"] = lambda v: {"b": pack(v, bt, bo)}
    unpack = layout.unpack_nchw if len(shape) == 4 else layout.unpack_nk
    op.unpack = lambda v: unpack(v, shape[0], shape[1])
    return op


def hardswish_op(
    cfg: HwConfig,
    shape: tuple[int, ...],
    offset: int,
    six: int,
    mult: int,
    pre_shift: int,
    bias: int,
    epilogue: list[tuple],
    name: str = "hardswish",
) -> VtaOp:
    """`epilogue(((x * clip(x + offset, 0, six) * mult) >> pre_shift) + bias)` of an int8
    tensor `a`, stored as int8."""
    a = placeholder(_packed(cfg, shape, name), "int8", "a")
    x = nn.cast_to(a, "int32", name="a.acc")
    g = nn.cast_to(a, "int32", name="gate.acc")  # the second copy: loaded again
    stages = hardswish_stages(x, g, offset, six, mult, pre_shift, bias, name)
    wl = dict(op="hardswish", offset=offset, six=six, mult=mult, pre_shift=pre_shift, bias=bias)
    return _finish(cfg, name, a, None, [x, g], stages, epilogue, shape, wl)


def mul_op(
    cfg: HwConfig,
    shape: tuple[int, ...],
    b_shape: tuple[int, ...],
    epilogue: list[tuple],
    name: str = "mul",
) -> VtaOp:
    """`epilogue(a * b)` of int8 tensors, stored as int8; `b_shape` is `shape` or, for a 4-D
    `shape`, (N, C, 1, 1): a per-channel gate broadcast over H and W."""
    packed = _packed(cfg, shape, name)
    a = placeholder(packed, "int8", "a")
    x = nn.cast_to(a, "int32", name="a.acc")
    if tuple(b_shape) == tuple(shape):
        b = placeholder(packed, "int8", "b")
        y = nn.cast_to(b, "int32", name="b.acc")
        p = multiply(x, y, name=f"{name}.mul")
    elif len(shape) == 4 and tuple(b_shape) == (*shape[:2], 1, 1):
        b = placeholder(_packed(cfg, b_shape, name), "int8", "b")
        y = nn.cast_to(b, "int32", name="b.acc")
        p = multiply_gate(x, y, name=f"{name}.mul")
    else:
        raise ValueError(f"{name}: b {b_shape} is neither a's shape {shape} nor (N, C, 1, 1)")
    wl = dict(op="mul", b_shape=tuple(b_shape))
    return _finish(cfg, name, a, b, [x, y], [p], epilogue, shape, wl)


def rebuild(cfg: HwConfig, workload: dict, epilogue: list[tuple], name: str) -> VtaOp:
    """The operator a `hardswish_op` / `mul_op` workload (its "op" key) describes."""
    w = {k: v for k, v in workload.items() if k not in ("op", "shape")}
    shape = tuple(workload["shape"])
    if workload.get("op") == "hardswish":
        return hardswish_op(cfg, shape, epilogue=epilogue, name=name, **w)
    if workload.get("op") == "mul":
        return mul_op(cfg, shape, tuple(w["b_shape"]), epilogue, name)
    raise ValueError(f"{name}: workload {workload} is not a HardSwish or Mul operator")
