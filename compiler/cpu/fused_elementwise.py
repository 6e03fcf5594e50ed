"""One CPU kernel for a chain of element-wise graph nodes (`vtac.fused_elementwise`), typically
an accelerator boundary: unpack -> dequantize -> float activation(s) -> quantize -> pack, done
in one pass over memory instead of one launch (and one full tensor in memory) per node.

The output is computed element by element in its own layout: with a final `vtac.pack`, over
the blocked output [N/bn, C/bc, H, W, bn, bc] (padded channels written as zero); otherwise over
the plain (NCHW) shape. A step's value at an output element is an expression of the steps
before it, each written as its single-node CPU kernel writes it (`elementwise.UNARY`,
`BINARY`, the int8 quantize/dequantize formulas), so the float math is the same operations in
the same order, each step's result rounded to float32 (no FMA across steps). A `vtac.unpack`
of a tensor blocked like the output reads it at the output's own index (no division); other
inputs are read at the element's NCHW index, broadcast NumPy
style, with the channel clamped so padded lanes stay in bounds (their result is discarded).
Inputs that are scalar constants (`consts`) become immediates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from compiler.cpu import elementwise as ew
from compiler.cpu.nest import MapKnobs, broadcast_index
from compiler.cpu.te_map import te_map
from compiler.tir.nodes import BinOp, Call, Cast, Const, Expr, PrimFunc, Select

F32 = "float32"
UNARY_STEPS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hard_swish",
               "HardSigmoid": "hard_sigmoid", "LeakyRelu": "leaky_relu", "Identity": "identity",
               "Clip": "clip"}  # fmt: skip
BINARY_STEPS = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min"}
INT8_STEPS = {"vtac.unpack", "vtac.dequantize", "vtac.quantize", "vtac.pack"}
FUSABLE = set(UNARY_STEPS) | set(BINARY_STEPS) | INT8_STEPS


class FuseError(ValueError):
    """The steps are not a chain this kernel computes (names the step)."""


def _packed_shape(shape: Sequence[int], bn: int, bc: int) -> tuple[int, ...]:
    n, c = shape[:2]
    return (-(-n // bn), -(-c // bc), *shape[2:], bn, bc)


def step_types(steps: Sequence[Mapping], in_types: Sequence[tuple[tuple, str]]):
    """(shape, dtype) of every step's output, checking each step is one this kernel runs."""
    out: list[tuple[tuple, str]] = []

    def typ(ref: str):
        k = int(ref[1:])
        return in_types[k] if ref[0] == "i" else out[k]

    for k, st in enumerate(steps):
        op, refs = st["op"], [r for r in st["inputs"] if r]
        if op not in FUSABLE:
            raise FuseError(f"step {k}: {op} is not fusable")
        shape, dtype = typ(refs[0])
        if op == "vtac.unpack":
            if len(shape) != 6 or refs[0][0] != "i" or k:
                raise FuseError(f"step {k}: unpack must come first, of a 6-d blocked input")
            out.append(((int(st["attrs"]["n"]), int(st["attrs"]["c"]), *shape[2:4]), dtype))
        elif op == "vtac.pack":
            if len(shape) != 4 or k != len(steps) - 1:
                raise FuseError(f"step {k}: pack must come last, of a 4-d value")
            a = st["attrs"]
            out.append((_packed_shape(shape, int(a["bn"]), int(a["bc"])), dtype))
        elif op == "vtac.dequantize":
            out.append((shape, F32))
        elif op == "vtac.quantize":
            out.append((shape, "int8"))
        else:
            shapes = [typ(r)[0] for r in refs]
            if any(typ(r)[1] != F32 for r in refs):
                raise FuseError(f"step {k}: {op} takes float32 operands here")
            try:
                out.append((tuple(np.broadcast_shapes(*shapes)), F32))
            except ValueError:
                raise FuseError(f"step {k}: {op} of shapes {shapes} does not broadcast") from None
    return out


def chain_types(steps: Sequence[Mapping], in_types: Sequence[tuple[tuple, str]]):
    """(step types, the chain's element shape): every step but a final pack works on one
    shape (inputs may broadcast to it); FuseError otherwise."""
    types = step_types(steps, in_types)
    packed_out = steps[-1]["op"] == "vtac.pack"
    if packed_out and len(steps) < 2:
        raise FuseError("a pack alone is not a chain")
    logical = types[-2][0] if packed_out else types[-1][0]
    for k, (shape, _) in enumerate(types[:-1] if packed_out else types):
        if tuple(shape) != tuple(logical):
            raise FuseError(f"step {k}: shape {shape} differs from the chain's {logical}")
    return types, tuple(logical)


def fused_elementwise(
    steps: Sequence[Mapping],
    in_types: Sequence[tuple[tuple, str]],
    consts: Mapping[int, float] | None = None,
    knobs: MapKnobs | None = None,
) -> PrimFunc:
    """PrimFunc `fused(in0, ..., out)` computing the steps (see the module docstring); the
    inputs in `consts` are immediates, not parameters."""
    consts = dict(consts or {})
    types, logical = chain_types(steps, in_types)
    out_shape, out_dtype = types[-1]
    last = steps[-1]
    packed_out = last["op"] == "vtac.pack"
    rank = len(logical)
    params = [k for k in range(len(in_types)) if k not in consts]
    position = {k: p for p, k in enumerate(params)}

    def body(params_t, idx):
        tensors = {k: params_t[p] for k, p in position.items()}
        if packed_out:
            bn, bc = int(last["attrs"]["bn"]), int(last["attrs"]["bc"])
            n, c = idx[0] * Const(bn) + idx[4], idx[1] * Const(bc) + idx[5]
            valid = BinOp("and", n < Const(logical[0]), c < Const(logical[1]))
            lidx = [BinOp("min", n, Const(logical[0] - 1)), BinOp("min", c, Const(logical[1] - 1)),
                    idx[2], idx[3]]  # fmt: skip
        else:
            lidx = list(idx)
        vals: list[Expr] = []

        def load(ref: str) -> Expr:
            k = int(ref[1:])
            if ref[0] == "s":
                return vals[k]
            shape, dtype = in_types[k]
            shape = shape or (1,)
            if k in consts:
                return Const(float(consts[k]), F32) if dtype == F32 else Const(int(consts[k]))
            return tensors[k][tuple(broadcast_index(lidx, shape, rank))]

        for st in steps:
            op, a = st["op"], st["attrs"]
            refs = list(st["inputs"])
            if op == "vtac.unpack":
                k = int(refs[0][1:])
                shape = in_types[k][0]
                if packed_out and tuple(shape) == tuple(out_shape):
                    v = tensors[k][tuple(idx)]  # blocked like the output: the same element
                else:
                    bn, bc = shape[4], shape[5]
                    n, c = lidx[0], lidx[1]
                    v = tensors[k][(n // Const(bn), c // Const(bc), lidx[2], lidx[3],
                                    n % Const(bn), c % Const(bc))]  # fmt: skip
            elif op == "vtac.pack":
                x = load(refs[0])
                v = Select(valid, x, Const(0.0, x.dtype) if x.dtype == F32 else Const(0, x.dtype))
            elif op == "vtac.dequantize":
                scale = 2.0 ** float(a["exp"])  # as ew.dequantize (float: a free scale)
                v = (Cast(F32, Cast("int32", load(refs[0]))) - Const(0.0, F32)) * Const(scale, F32)
            elif op == "vtac.quantize":
                scale = 2.0 ** float(a["exp"])  # as ew.quantize (float: a free scale)
                q = Call("round", (load(refs[0]) / Const(scale, F32),), F32) + Const(0.0, F32)
                v = Cast("int8", ew.fmin(ew.fmax(q, Const(-128.0, F32)), Const(127.0, F32)))
            elif op in BINARY_STEPS:
                v = ew.BINARY[BINARY_STEPS[op]](load(refs[0]), load(refs[1]))
            else:
                v = ew.UNARY[UNARY_STEPS[op]](load(refs[0]), **_unary_attrs(op, a, refs, consts))
            # A step ending in a multiply is rounded like a stored result: through float64 and
            # back (exact; LLVM folds it away) so the code generator does not contract it with
            # the next step's add into an FMA, which the separate steps (and the reference) do
            # not do. (The simplifier drops a same-type Cast, so that cannot be the barrier.)
            if isinstance(v, BinOp) and v.op == "mul" and v.dtype == F32:
                v = Cast(F32, Cast("float64", v))
            vals.append(v)
        return vals[-1]

    inputs = [(f"in{k}", in_types[k][0] or (1,), in_types[k][1]) for k in params]
    return te_map("fused_elementwise", out_shape, inputs, body, out_dtype, knobs)


def _unary_attrs(op: str, a: Mapping, refs: list[str], consts: Mapping[int, float]) -> dict:
    if op == "HardSigmoid":
        return {"alpha": float(a.get("alpha", 0.2)), "beta": float(a.get("beta", 0.5))}
    if op == "LeakyRelu":
        return {"alpha": float(a.get("alpha", 0.01))}
    if op == "Clip":
        bounds = {"min": a.get("min"), "max": a.get("max")}  # opset < 11: attributes
        for key, ref in zip(("min", "max"), refs[1:3], strict=False):
            if ref:
                if ref[0] != "i" or int(ref[1:]) not in consts:
                    raise FuseError("Clip bounds must be scalar constants")
                bounds[key] = consts[int(ref[1:])]
        return {k: float(v) for k, v in bounds.items() if v is not None}
    return {}
