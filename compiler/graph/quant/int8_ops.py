"""int8 through data movement: ops that commute with power-of-two quantization stay int8.

`quantize_int8` calls `int8_form(node, ctx)` for every node it does not quantize as an anchor
(or an anchor's epilogue). When the node's data inputs already have an int8 form made by
quantized work (an anchor's requantize or another rule here — not a `vtac.quantize` of a float
value, which would only add rounding error where the float model had none), the node is
rewritten to int8 and the float value is restored by a `vtac.dequantize` (dead-code-eliminated
when nobody reads it). Rules, with the exponent e of the result:

- `MaxPool` (2-D, no indices, dilation 1, ceil_mode 0) -> `vtac.maxpool`, e of the input (max
  commutes with a monotone quantization: exact);
- `Resize` nearest whose index map is exactly ×2 in H and W -> `vtac.upsample {factor 2}` (exact);
- `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Transpose`, `Identity`, `Split`, `Slice`,
  `Resize` (mode nearest: it only picks elements), `Pad` (constant 0) -> the same op on int8,
  e of the input (exact);
- `Concat`: every input int8, aligned to the coarsest input exponent by `vtac.requantize`
  (a rounding right shift; inputs already at it are untouched);
- `Relu` / `Clip` with constant bounds -> `vtac.requantize {shift 0}` clipping (exact for
  Relu; Clip bounds rounded inward to the grid);
- `Add` of two same-shape int8 tensors (a residual add no conv epilogue claimed) ->
  `vtac.add` aligned by left shifts + `vtac.requantize` to the output's calibrated exponent.

The graph's int8 reference semantics (`compiler/graph/ref/`) stay the oracle of every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compiler.graph.ir import Graph, Node, TensorType
from compiler.graph.ref import KERNELS, KernelCtx
from compiler.graph.ref.pool import pool_geometry
from compiler.graph.ref.vtac_ops import INT8_MAX, INT8_MIN

SAME_EXPONENT = {
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Identity",
    "Split",
    "Slice",
    "Resize",
    "Pad",
}


@dataclass
class Int8Ctx:
    """What the rules need from `quantize_int8`: the float graph, the int8 forms made so far
    (float value -> (int8 value, exponent)), the exponent of a calibrated value, a node
    emitter, fresh names, and the output graph's types (updated in place)."""

    graph: Graph
    int8_of: dict[str, tuple[str, int]]
    native: set[str]  # int8 values made by quantized work (not by vtac.quantize)
    exp_of: Callable[[str], int]
    emit_node: Callable[[Node], None]
    names: Callable[[str], str]
    types: dict[str, TensorType]

    def new_value(self, base: str, t: TensorType) -> str:
        v = self.names(base)
        self.types[v] = t
        return v

    def publish(self, value: str, q: str, e: int) -> None:
        """`q` (int8, exponent e) is the int8 form of float `value`; the float value is
        restored by a dequantize (dropped later if nobody reads it)."""
        self.int8_of[value] = (q, e)
        self.native.add(q)
        node = Node(self.names(f"{value}_dequantize"), "vtac.dequantize", (q,), (value,),
                    {"exp": e})  # fmt: skip
        self.emit_node(node)


def _int8_input(value: str, ctx: Int8Ctx) -> tuple[str, int] | None:
    form = ctx.int8_of.get(value)
    return form if form and form[0] in ctx.native else None


def _quantized(value: str, ctx: Int8Ctx) -> tuple[str, int] | None:
    """The int8 form of a calibrated float value, by a `vtac.quantize` (None: not float)."""
    if value in ctx.int8_of:
        return ctx.int8_of[value]
    if not value or value in ctx.graph.constants or ctx.graph.types[value].dtype != "float32":
        return None
    t = ctx.graph.types[value]
    try:
        e = ctx.exp_of(value)
    except ValueError:  # no calibration range
        return None
    q = ctx.new_value(f"{value}_q", TensorType(t.shape, "int8"))
    ctx.emit_node(
        Node(ctx.names(f"{value}_q_quantize"), "vtac.quantize", (value,), (q,), {"exp": e})
    )
    ctx.int8_of[value] = (q, e)
    return q, e


def _const_inputs_ok(node: Node, ctx: Int8Ctx) -> bool:
    return all((not v) or v in ctx.graph.constants for v in node.inputs[1:])


def _maxpool_attrs(node: Node, ctx: Int8Ctx) -> dict | None:
    x_t = ctx.graph.types[node.inputs[0]]
    if x_t.rank != 4 or len(node.outputs) != 1 or node.attr("storage_order", 0):
        return None
    if node.attr("ceil_mode", 0) or any(d != 1 for d in node.attr("dilations", (1, 1))):
        return None
    kctx = KernelCtx(node.attrs, ctx.graph.opset, node.name, node.op)
    k, s, _, pb, pe, _ = pool_geometry(kctx, x_t.shape[2:])
    if pb[0] >= k[0] or pe[0] >= k[0] or pb[1] >= k[1] or pe[1] >= k[1]:
        return None
    return {
        "kernel_shape": tuple(int(v) for v in k),
        "strides": tuple(int(v) for v in s),
        "pads": (int(pb[0]), int(pb[1]), int(pe[0]), int(pe[1])),
    }


def _nearest_x2(node: Node, ctx: Int8Ctx) -> bool:
    """Whether a Resize picks out[y, x] = in[y // 2, x // 2] on a 4-D tensor: found by running
    its reference kernel on position codes (whatever its coordinate mode and rounding)."""
    t, out = ctx.graph.types[node.inputs[0]], ctx.graph.types[node.outputs[0]]
    if t.rank != 4 or out.shape != (*t.shape[:2], 2 * t.shape[2], 2 * t.shape[3]):
        return False
    nearest = node.attr("mode", "nearest") in ("nearest", b"nearest")
    if not nearest or not _const_inputs_ok(node, ctx):
        return False
    h, w = t.shape[2:]
    # the full shape: a `sizes` input names N and C too
    probe = np.broadcast_to(np.arange(h * w, dtype=np.float32).reshape(1, 1, h, w), t.shape)
    args = [probe] + [ctx.graph.constants[v] if v else None for v in node.inputs[1:]]
    kctx = KernelCtx(node.attrs, ctx.graph.opset, node.name, node.op)
    got = KERNELS["Resize"](kctx, *args)
    return bool(np.array_equal(got, probe.repeat(2, axis=2).repeat(2, axis=3)))


def _zero_pad(node: Node, ctx: Int8Ctx) -> bool:
    if node.attr("mode", "constant") not in ("constant", b"constant") or ctx.graph.opset < 11:
        return False
    if len(node.inputs) > 2 and node.inputs[2]:
        v = ctx.graph.constants.get(node.inputs[2])
        if v is None or np.any(v != 0):
            return False
    return True


def _requantize(src: str, shift: int, lo: int, hi: int, base: str, ctx: Int8Ctx) -> str:
    out = ctx.new_value(base, TensorType(ctx.types[src].shape, "int8"))
    ctx.emit_node(Node(ctx.names(f"{base}_requantize"), "vtac.requantize", (src,), (out,),
                       {"shift": shift, "lo": lo, "hi": hi}))  # fmt: skip
    return out


def _same_exponent(node: Node, xq: str, e: int, ctx: Int8Ctx) -> bool:
    if node.op == "Resize" and node.attr("mode", "nearest") not in ("nearest", b"nearest"):
        return False
    if node.op == "Pad" and not _zero_pad(node, ctx):
        return False
    if not _const_inputs_ok(node, ctx) or not all(node.outputs):
        return False
    ins = list(node.inputs)
    ins[0] = xq
    if node.op == "Pad" and len(ins) > 2:
        ins[2] = ""  # the default pad value, 0, is exact in int8
        while ins and not ins[-1]:
            ins.pop()
    outs = [ctx.new_value(f"{o}_q", TensorType(ctx.graph.types[o].shape, "int8"))
            for o in node.outputs]  # fmt: skip
    ctx.emit_node(Node(ctx.names(f"{node.name}_int8"), node.op, tuple(ins), tuple(outs),
                       dict(node.attrs)))  # fmt: skip
    for o, q in zip(node.outputs, outs, strict=True):
        ctx.publish(o, q, e)
    return True


def int8_form(node: Node, ctx: Int8Ctx) -> bool:
    """Emit the int8 form of `node` if a rule applies (see the module docstring); False keeps
    the float node."""
    g = ctx.graph
    if not node.inputs or not node.inputs[0] or node.inputs[0] in g.constants:
        return False
    x = _int8_input(node.inputs[0], ctx)
    out = node.outputs[0] if node.outputs else ""
    if node.op == "MaxPool" and x:
        attrs = _maxpool_attrs(node, ctx)
        if attrs is None:
            return False
        q = ctx.new_value(f"{out}_q", TensorType(g.types[out].shape, "int8"))
        ctx.emit_node(Node(node.name, "vtac.maxpool", (x[0],), (q,), attrs))
        ctx.publish(out, q, x[1])
        return True
    if node.op == "Resize" and x and _nearest_x2(node, ctx):
        q = ctx.new_value(f"{out}_q", TensorType(g.types[out].shape, "int8"))
        ctx.emit_node(Node(node.name, "vtac.upsample", (x[0],), (q,), {"factor": 2}))
        ctx.publish(out, q, x[1])
        return True
    if node.op in SAME_EXPONENT and x:
        return _same_exponent(node, x[0], x[1], ctx)
    if node.op in ("Relu", "Clip") and x:
        return _clip(node, x, ctx)
    if node.op == "Concat":
        return _concat(node, ctx)
    if node.op in ("Add", "Sum") and len(node.inputs) == 2:
        return _add(node, ctx)
    return False


def _clip(node: Node, x: tuple[str, int], ctx: Int8Ctx) -> bool:
    lo, hi = INT8_MIN, INT8_MAX
    q, e = x
    if node.op == "Relu":
        lo = 0
    else:
        if ctx.graph.opset < 11 or not _const_inputs_ok(node, ctx):
            return False
        bounds = [ctx.graph.constants[i] if i else None for i in node.inputs[1:3]]
        bounds += [None] * (2 - len(bounds))
        if bounds[0] is not None:
            lo = max(lo, int(np.ceil(float(bounds[0]) / 2.0**e)))
        if bounds[1] is not None:
            hi = min(hi, int(np.floor(float(bounds[1]) / 2.0**e)))
        if lo > hi:
            return False
    out = node.outputs[0]
    ctx.publish(out, _requantize(q, 0, lo, hi, f"{out}_q", ctx), e)
    return True


def _concat(node: Node, ctx: Int8Ctx) -> bool:
    forms = [_int8_input(v, ctx) if v else None for v in node.inputs]
    if not node.inputs or all(f is None for f in forms):
        return False
    # A float operand beside int8 ones (an average pool the CPU computes, say) is quantized,
    # so that the int8 operands need no dequantize and the concat can be a blocked view.
    forms = [f or _quantized(v, ctx) for v, f in zip(node.inputs, forms, strict=True)]
    if any(f is None for f in forms):
        return False
    e = max(f[1] for f in forms)
    ins = []
    for v, (q, ev) in zip(node.inputs, forms, strict=True):
        ins.append(q if ev == e else _requantize(q, e - ev, INT8_MIN, INT8_MAX, f"{v}_e{e}", ctx))
    out = node.outputs[0]
    q = ctx.new_value(f"{out}_q", TensorType(ctx.graph.types[out].shape, "int8"))
    ctx.emit_node(Node(node.name, "Concat", tuple(ins), (q,), dict(node.attrs)))
    ctx.publish(out, q, e)
    return True


def _add(node: Node, ctx: Int8Ctx) -> bool:
    a, b = node.inputs
    fa, fb = _int8_input(a, ctx), _int8_input(b, ctx)
    g = ctx.graph
    if fa is None or fb is None or g.types[a].shape != g.types[b].shape:
        return False
    out = node.outputs[0]
    (qa, ea), (qb, eb) = fa, fb
    e_new = min(ea, eb)  # left shifts only, as a conv's residual add
    acc = ctx.new_value(f"{out}_acc", TensorType(g.types[out].shape, "int32"))
    ctx.emit_node(Node(node.name, "vtac.add", (qa, qb), (acc,),
                       {"shift_a": ea - e_new, "shift_b": eb - e_new}))  # fmt: skip
    ey = ctx.exp_of(out)
    ctx.publish(out, _requantize(acc, ey - e_new, INT8_MIN, INT8_MAX, f"{out}_q", ctx), ey)
    return True


def make_ctx(
    graph: Graph,
    int8_of: dict[str, tuple[str, int]],
    exp_of: Callable[[str], int],
    out_nodes: list[Node],
    names: Callable[[str], str],
    types: dict[str, TensorType],
) -> Int8Ctx:
    return Int8Ctx(graph, int8_of, set(), exp_of, out_nodes.append, names, types)
