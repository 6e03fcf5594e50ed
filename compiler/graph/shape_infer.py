"""Static shape and dtype inference over the graph IR.

Each node's output types come from a closed-form rule for the ops whose execution would be
costly (convolutions, matmuls, pooling, element-wise ops) and, for every other op, from running
its reference kernel on zero-filled inputs (known values are used where an input is a constant
or a small computed shape tensor, so `Shape -> Gather -> Concat -> Reshape` chains resolve).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compiler.graph.ir import GraphError, Node, TensorType
from compiler.graph.ref import KERNELS, KernelCtx, KernelError
from compiler.graph.ref.pool import pool_geometry
from compiler.graph.ref.vtac_pool import maxpool_attrs, maxpool_out_size

# Computed values up to this many elements are kept for later shape computations.
KNOWN_VALUE_LIMIT = 1 << 16

UNARY_SAME = {
    "Abs",
    "Neg",
    "Exp",
    "Log",
    "Sqrt",
    "Floor",
    "Ceil",
    "Reciprocal",
    "Tanh",
    "Sin",
    "Cos",
    "Sign",
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Softplus",
    "Identity",
    "Erf",
    "Round",
    "Clip",
    "Softmax",
    "LogSoftmax",
    "LRN",
    "BatchNormalization",
    "PRelu",
}
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Sum", "Max", "Min", "Mean"}
COMPARE = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"}
# Ops whose output shape depends on values we never compute during inference.
VALUE_DEPENDENT = {"NonZero", "Unique"}


def _conv_out(in_sp, ksz, strides, pads, dil):
    nsp = len(in_sp)
    return tuple(
        (in_sp[i] + pads[i] + pads[i + nsp] - ((ksz[i] - 1) * dil[i] + 1)) // strides[i] + 1
        for i in range(nsp)
    )


def _rule(node: Node, ins: list[TensorType | None], ctx: KernelCtx) -> list[TensorType] | None:
    op = node.op
    if op in UNARY_SAME and ins and ins[0] is not None:
        if op == "BatchNormalization" and ctx.attr("training_mode", 0):
            return None
        if len(node.outputs) != 1:
            return None
        return [ins[0]]
    if op in BINARY | COMPARE and all(t is not None for t in ins):
        shape = np.broadcast_shapes(*[t.shape for t in ins])
        if op in COMPARE:
            return [TensorType(shape, "bool")]
        dtype = np.result_type(*[np.dtype(t.dtype) for t in ins]).name
        return [TensorType(shape, dtype)]
    if (
        op == "Conv"
        and ins[0]
        and ins[1]
        and ctx.attr("auto_pad", "NOTSET") in ("NOTSET", b"NOTSET")
    ):
        x, w = ins[0], ins[1]
        nsp = x.rank - 2
        if nsp < 1 or w.rank != x.rank:
            raise GraphError(
                f"node {node.name!r} (Conv): input rank {x.rank} and weight rank {w.rank} must "
                "be equal and at least 3 (N, C, spatial...)"
            )
        geometry = {
            "kernel_shape": (ctx.attr("kernel_shape", w.shape[2:]), nsp, 1),
            "strides": (ctx.attr("strides", (1,) * nsp), nsp, 1),
            "dilations": (ctx.attr("dilations", (1,) * nsp), nsp, 1),
            "pads": (ctx.attr("pads", (0,) * (2 * nsp)), 2 * nsp, 0),
        }
        for attr, (value, length, lo) in geometry.items():
            ok = isinstance(value, tuple) and len(value) == length
            if not (ok and all(isinstance(v, int) and v >= lo for v in value)):
                raise GraphError(
                    f"node {node.name!r} (Conv): attribute {attr} must be {length} integers "
                    f">= {lo}, got {value!r}"
                )
        out = _conv_out(x.shape[2:], *(geometry[k][0] for k in ("kernel_shape", "strides")),
                        geometry["pads"][0], geometry["dilations"][0])  # fmt: skip
        if any(o < 1 for o in out):
            raise GraphError(
                f"node {node.name!r} (Conv): the kernel window is larger than the padded input "
                f"{x.shape[2:]} (output spatial size {out})"
            )
        return [TensorType((x.shape[0], w.shape[0]) + out, x.dtype)]
    if op == "vtac.conv2d":
        x, w = ins[0], ins[1]
        if ctx.attr("packed", 0):
            out = _conv_out(
                x.shape[2:4],
                w.shape[2:4],
                ctx.attr("strides"),
                ctx.attr("pads"),
                ctx.attr("dilations"),
            )
            return [TensorType((x.shape[0], w.shape[0]) + out + (x.shape[4], w.shape[4]), "int32")]
        out = _conv_out(
            x.shape[2:], w.shape[2:], ctx.attr("strides"), ctx.attr("pads"), ctx.attr("dilations")
        )
        return [TensorType((x.shape[0], w.shape[0]) + out, "int32")]
    if op == "vtac.dense":
        x, w = ins[0], ins[1]
        if ctx.attr("packed", 0):
            return [TensorType((x.shape[0], w.shape[0], x.shape[2], w.shape[2]), "int32")]
        return [TensorType((x.shape[0], w.shape[0]), "int32")]
    if op == "MatMul" and ins[0] and ins[1]:
        a, b = ins[0].shape, ins[1].shape
        if len(a) >= 2 and len(b) >= 2:
            batch = np.broadcast_shapes(a[:-2], b[:-2])
            return [TensorType(tuple(batch) + (a[-2], b[-1]), ins[0].dtype)]
        return None
    if op == "Gemm" and ins[0] and ins[1]:
        a, b = ins[0].shape, ins[1].shape
        m = a[1] if ctx.attr("transA", 0) else a[0]
        n = b[0] if ctx.attr("transB", 0) else b[1]
        return [TensorType((m, n), ins[0].dtype)]
    if op in ("MaxPool", "AveragePool") and ins[0] and len(node.outputs) == 1:
        x = ins[0]
        out = pool_geometry(ctx, x.shape[2:])[-1]
        return [TensorType(x.shape[:2] + tuple(out), x.dtype)]
    if op == "vtac.maxpool" and ins[0]:  # closed form: the reference would pool zeros
        (kh, kw), (sh, sw), (t, l, b, r) = maxpool_attrs(ctx)
        x = ins[0]
        oh = maxpool_out_size(x.shape[2], kh, sh, t, b)
        ow = maxpool_out_size(x.shape[3], kw, sw, l, r)
        if oh < 1 or ow < 1:
            raise GraphError(f"node {node.name!r} (vtac.maxpool): the {kh}x{kw} window is larger "
                             f"than the padded input {x.shape[2:4]}")  # fmt: skip
        return [TensorType((*x.shape[:2], oh, ow, *x.shape[4:]), "int8")]
    if op == "vtac.upsample" and ins[0]:
        f, x = int(ctx.attr("factor", 2)), ins[0]
        return [TensorType((*x.shape[:2], f * x.shape[2], f * x.shape[3], *x.shape[4:]), x.dtype)]
    if op in ("GlobalAveragePool", "GlobalMaxPool") and ins[0]:
        x = ins[0]
        return [TensorType(x.shape[:2] + (1,) * (x.rank - 2), x.dtype)]
    if op in ("vtac.requantize", "vtac.quantize"):
        return [TensorType(ins[0].shape, "int8")]
    if op == "vtac.dequantize":
        return [TensorType(ins[0].shape, "float32")]
    if op in ("vtac.add", "vtac.max", "vtac.mul"):
        return [TensorType(np.broadcast_shapes(ins[0].shape, ins[1].shape), "int32")]
    if op == "vtac.hardswish":
        return [TensorType(ins[0].shape, "int32")]
    return None


def infer_node(
    node: Node,
    in_types: list[TensorType | None],
    known: Mapping[str, np.ndarray],
    opset: int,
) -> tuple[list[TensorType], list[np.ndarray | None]]:
    """Output types of `node` and, where cheap, output values (None when not computed)."""
    ctx = KernelCtx(node.attrs, opset, node.name, node.op, len(node.outputs))
    if node.op in VALUE_DEPENDENT:
        raise GraphError(f"node {node.name!r}: {node.op} has a value-dependent output shape")
    if node.op in ("Shape", "Size") and in_types and in_types[0] is not None:
        # Static shapes make these constants even when their input is a feature map.
        dummy = np.lib.stride_tricks.as_strided(
            np.zeros(1, in_types[0].dtype), in_types[0].shape, (0,) * in_types[0].rank
        )
        value = np.asarray(KERNELS[node.op](ctx, dummy))
        return [TensorType.of(value)], [value]
    all_known = all((not i) or i in known for i in node.inputs)
    small = all(t is None or t.size <= KNOWN_VALUE_LIMIT for t in in_types)
    if not (all_known and small):
        try:
            rule = _rule(node, in_types, ctx)
        except (KernelError, GraphError):
            raise
        except Exception as e:  # a malformed attribute or operand (stride 0, 1-D weight, ...)
            raise GraphError(
                f"node {node.name!r} ({node.op}): cannot infer output types: "
                f"{type(e).__name__}: {e}"
            ) from None
        if rule is not None:
            return rule, [None] * len(rule)
    fn = KERNELS.get(node.op)
    if fn is None:
        raise GraphError(f"node {node.name!r}: no kernel for op {node.op!r}")
    args = []
    for name, t in zip(node.inputs, in_types, strict=True):
        if not name:
            args.append(None)
        elif name in known:
            args.append(known[name])
        else:
            args.append(np.zeros(t.shape, dtype=t.dtype))
    while args and args[-1] is None:
        args.pop()
    try:
        with np.errstate(all="ignore"):
            result = fn(ctx, *args)
    except KernelError:
        raise
    except Exception as e:
        raise GraphError(
            f"node {node.name!r} ({node.op}): cannot infer output types: {type(e).__name__}: {e}"
        ) from e
    results = result if isinstance(result, tuple | list) else (result,)
    types, values = [], []
    for r in results[: len(node.outputs)]:
        r = np.asarray(r)
        types.append(TensorType.of(r))
        values.append(r if all_known and r.size <= KNOWN_VALUE_LIMIT else None)
    return types, values


# Largest tensor vtac accepts anywhere: 1 GiB of float32 (a larger one cannot be executed or
# calibrated on a workstation; the largest activation of common vision models is ~2**24).
MAX_TENSOR_ELEMENTS = 1 << 28


def infer_types(
    nodes: tuple[Node, ...],
    input_types: Mapping[str, TensorType],
    constants: Mapping[str, np.ndarray],
    opset: int,
) -> tuple[dict[str, TensorType], dict[str, np.ndarray]]:
    """Types of every value, plus the small values that could be computed statically."""
    types = dict(input_types)
    types.update({k: TensorType.of(v) for k, v in constants.items()})
    known: dict[str, np.ndarray] = dict(constants)
    for node in nodes:
        missing = [i for i in node.inputs if i and i not in types]
        if missing:
            raise GraphError(f"node {node.name!r} ({node.op}) uses undefined value(s) {missing}")
        in_types = [types[i] if i else None for i in node.inputs]
        out_types, values = infer_node(node, in_types, known, opset)
        if len(out_types) < len([o for o in node.outputs if o]):
            raise GraphError(f"node {node.name!r} ({node.op}) yields fewer outputs than declared")
        for name, t, v in zip(node.outputs, out_types, values, strict=False):
            if name and t.size > MAX_TENSOR_ELEMENTS:
                raise GraphError(
                    f"node {node.name!r} ({node.op}): output {name!r} would have shape "
                    f"{t.shape} = {t.size:.3g} elements; vtac handles at most 2**28"
                )
            if name:
                types[name] = t
                if v is not None:
                    known[name] = v
    return types, known
