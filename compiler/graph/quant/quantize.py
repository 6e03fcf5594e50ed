"""quantize_int8: rewrite a float graph so that convolutions and dense layers compute in int8
with int32 accumulation, power-of-two per-tensor scales, and requantization by shift + clip.

For each *anchor* (a `Conv` with constant 4-D weights, a `Gemm` with constant 2-D B and
alpha = beta = 1, transA = 0, or a 2-D `MatMul` with a constant 2-D weight) and its epilogue
chain (an optional residual `Add` or 2-input `Sum` (or `Max`, as `vtac.max`) of a non-constant
tensor of the same shape, then any `Relu` / `Clip` with constant bounds, each the only consumer
of the previous value):

    x_q  = vtac.quantize(x) {exp = e_x}                 (unless x already has an int8 form)
    acc  = vtac.conv2d(x_q, W_q, b_q) | vtac.dense(..)  int32 at exponent e_x + e_w
    acc' = vtac.add(acc, r_q) {shift_a, shift_b}        residual, aligned by left shifts
    y_q  = vtac.requantize(acc') {shift = e_y - e_acc, lo, hi}   relu/clip folded into lo/hi
    y    = vtac.dequantize(y_q) {exp = e_y}             for float consumers (else dead)

W_q = rint(W / 2**e_w) in [-127, 127] with e_w from max |W| (or least squared error);
b_q = rint(b / 2**(e_x+e_w)) as int32. By default e_w is per output channel (`per_channel.py`):
the requantize then takes a per-channel shift vector, and before a residual add a per-channel
align vector brings the accumulator to one exponent (docs/quantization.md). With
`requant="mul"` (configs with the ALU's MUL) weight scales are free per channel and every
rescale is a fixed-point multiply (`fixed_point.py`): `vtac.requantize(acc, pre, mult)`, and
before a residual add `vtac.add(acc, r, pre, mult) {shift_m}`. Exponents of
activations come from calibration (`calibrate.py`). Float values keep their names, so graph
inputs and outputs are unchanged; int8 forms are named `<value>_q`.
Data movement between quantized layers (max pool, concat, split, nearest resize, zero pad,
reshapes, relu/clip, a lone residual add) stays int8: `int8_ops.int8_form`, called for every
other node. Everything else stays float. `keep_first_float` / `keep_last_float` leave the
first / last anchor (in node order) in float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.graph.ir import Graph, GraphError, NameGen, Node, TensorType
from compiler.graph.passes.rewrite import use_counts
from compiler.graph.quant.calibrate import pow2_exponent
from compiler.graph.quant.concat_ranges import shared_concat_ranges
from compiler.graph.quant.fixed_point import (
    FixedPointError,
    plan_multipliers,
    quantize_weights_scaled,
    weight_scales,
)
from compiler.graph.quant.int8_ops import SAME_EXPONENT, int8_form, make_ctx
from compiler.graph.quant.per_channel import quantize_weights, requantize_shifts, weight_exponents
from compiler.graph.ref import KernelCtx
from compiler.graph.ref.nn import conv_pads
from compiler.graph.ref.vtac_ops import INT8_MAX, INT8_MIN

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# vtac.add's left shifts run as ALU SHR immediates, portable up to 15 (vta-isa.md §2.5)
MAX_ADD_SHIFT = 15
REQUANT_MODES = ("shift", "mul")
# requant="mul" before a residual add: the accumulator is rescaled to this many bits finer
# than the finer of the residual and the output (exact enough, and the add's left shift of
# the residual stays within MAX_ADD_SHIFT).
MUL_ALIGN_BITS = 8


@dataclass
class QuantizedLayer:
    anchor: str
    output: str
    exp_in: int
    exp_w: int
    exp_out: int
    epilogue: list[str] = field(default_factory=list)
    # Per-output-channel weight exponents (None: per-tensor); `exp_w` is then their maximum.
    exp_w_channels: list[int] | None = None
    # Free per-channel weight scales (requant="mul"; then `exp_w` is ceil(log2 max scale)).
    w_scales: list[float] | None = None

    def weight_exponents(self) -> np.ndarray:
        """The weight exponent of every output channel (a 0-d array when per tensor); with
        free scales, log2 of them (not integers)."""
        if self.w_scales is not None:
            return np.log2(np.asarray(self.w_scales, np.float64))
        if self.exp_w_channels is not None:
            return np.asarray(self.exp_w_channels, np.int64)
        return np.asarray(self.exp_w, np.int64)


@dataclass
class QuantPlan:
    """What was quantized: one entry per anchor, plus anchors kept in float and why."""

    layers: list[QuantizedLayer] = field(default_factory=list)
    kept_float: dict[str, str] = field(default_factory=dict)
    # int8 value -> (the float value it stands for, exponent), data movement included
    int8_forms: dict[str, tuple[str, int]] = field(default_factory=dict)


def _is_anchor(node: Node, graph: Graph) -> str | None:
    """None if `node` can be quantized, else why not."""
    c = graph.constants
    if node.op == "Conv":
        if node.inputs[1] not in c or c[node.inputs[1]].ndim != 4:
            return "weights are not a constant 4-D tensor"
        if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in c:
            return "bias is not constant"
        return None
    if node.op == "Gemm":
        if node.inputs[1] not in c or node.attr("transA", 0):
            return "B is not constant or transA=1"
        if node.attr("alpha", 1.0) != 1.0 or node.attr("beta", 1.0) != 1.0:
            return "alpha/beta != 1"
        if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in c:
            return "C is not constant"
        return None
    if node.op == "MatMul":
        if node.inputs[1] not in c or c[node.inputs[1]].ndim != 2:
            return "weight is not a constant 2-D tensor"
        if graph.types[node.inputs[0]].rank != 2:
            return "input is not 2-D"
        return None
    return "not a conv/dense op"


def _weights(node: Node, graph: Graph) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Float weights in vtac layout (OIHW for conv, [N, K] for dense), bias, attributes."""
    c = graph.constants
    w = c[node.inputs[1]].astype(np.float64)
    b = c[node.inputs[2]].astype(np.float64) if len(node.inputs) > 2 and node.inputs[2] else None
    if node.op == "Conv":
        x_t = graph.types[node.inputs[0]]
        ctx = KernelCtx(node.attrs, graph.opset, node.name, node.op)
        strides = list(node.attr("strides", (1, 1)))
        dil = list(node.attr("dilations", (1, 1)))
        pb, pe = conv_pads(ctx, x_t.shape[2:], w.shape[2:], strides, dil)
        attrs = {
            "strides": strides,
            "pads": pb + pe,
            "dilations": dil,
            "group": int(node.attr("group", 1)),
        }
        return w, b, attrs
    if node.op == "Gemm":
        w = w if node.attr("transB", 0) else w.T
    else:
        w = w.T
    if b is not None:
        b = np.broadcast_to(b.reshape(-1), (w.shape[0],)) if b.size in (1, w.shape[0]) else None
    return w, b, {}


def constant_bias(step: Node, graph: Graph, anchor: Node) -> np.ndarray | None:
    """The per-output-channel vector of an `Add(value, constant)` right after an anchor
    (a bias the exporter left separate, e.g. MatMul + Add), or None."""
    if step.op != "Add":
        return None
    consts = [i for i in step.inputs if i in graph.constants]
    if len(consts) != 1:
        return None
    c = graph.constants[consts[0]]
    out = graph.types[anchor.outputs[0]].shape
    channels = out[1]
    if graph.types[step.outputs[0]].shape != out or c.size != channels:
        return None
    # Broadcasting must put the vector on the channel axis (axis 1; the last axis of dense).
    padded = (1,) * (len(out) - c.ndim) + c.shape
    channel_axis = 1 if anchor.op == "Conv" else len(out) - 1
    if padded[channel_axis] != channels:
        return None
    return c.reshape(-1).astype(np.float64)


def _chain(anchor: Node, graph: Graph, uses, consumers, claimed: set[str]) -> list[Node]:
    """The epilogue after `anchor`: [bias Add]? [residual Add]? then (Relu | Clip)*,
    single-use links only, none already claimed by an earlier anchor (a residual add joins
    one of its two convs)."""
    chain: list[Node] = []
    cur = anchor.outputs[0]
    seen_add = seen_act = False
    while uses.get(cur, 0) == 1 and cur not in graph.outputs:
        nxt = consumers[cur][0]
        if nxt.name in claimed:
            break
        if not chain and constant_bias(nxt, graph, anchor) is not None:
            pass  # folded into the int32 bias
        elif (
            (nxt.op in ("Add", "Max") or (nxt.op == "Sum" and len(nxt.inputs) == 2))
            and len(nxt.inputs) == 2
            and not seen_add
            and not seen_act
            and all(i not in graph.constants for i in nxt.inputs)
            and graph.types[nxt.inputs[0]].shape == graph.types[nxt.inputs[1]].shape
        ):
            seen_add = True
        elif nxt.op == "Relu":
            seen_act = True
        elif (
            nxt.op == "Clip"
            and (
                graph.opset < 11  # bounds are the min/max attributes
                or all((not i) or i in graph.constants for i in nxt.inputs[1:])
            )
        ):
            seen_act = True
        else:
            break
        chain.append(nxt)
        cur = nxt.outputs[0]
    return chain


# Ops whose int8 form keeps its input's scale and does no arithmetic on exponents
# (int8_ops.py): a free scale passes through them unchanged.
SCALE_PRESERVING = {"MaxPool"} | SAME_EXPONENT
# int8 forms that align operands by shifts (int8_ops.py): their inputs keep powers of two.
SHIFT_JOINS = {"Add", "Sum", "Max", "Relu", "Clip"}


def free_scale_classes(
    graph: Graph, chains: dict[str, list[Node]], consumers, concats: bool = False
) -> list[list[str]]:
    """Groups of quantized layers' outputs that can share one free (non-power-of-two) scale,
    for requant="mul". Values linked by scale-preserving int8 ops (max pool, reshapes, pads,
    ...) and, with `concats`, by a `Concat` (its inputs and output: one scale keeps it a
    zero-copy view; opt-in, see docs/quantization.md for why) form a class; a class is free
    when all of its sources are outputs of quantized layers without a residual add (their
    fixed-point multipliers reach any scale) and every reader of every
    member is a quantized conv/dense layer reading it as its input, a float op (through the
    dequantize) or one of the linking ops. Not free: values a residual add, a standalone
    Relu/Clip or a quantized layer's residual reads (they align exponents by shifts), and
    without `concats` values a concat reads."""
    joins = SHIFT_JOINS if concats else SHIFT_JOINS | {"Concat"}
    linking = SCALE_PRESERVING | ({"Concat"} if concats else set())
    chain_nodes = {n.name for ch in chains.values() for n in ch}
    by_name = {n.name: n for n in graph.nodes}
    roots = {}
    for anchor, chain in chains.items():
        if not any(n.op in ("Add", "Sum", "Max") for n in chain):
            roots[chain[-1].outputs[0] if chain else by_name[anchor].outputs[0]] = anchor
    parent: dict[str, str] = {}

    def find(v: str) -> str:
        while parent.get(v, v) != v:
            v = parent[v]
        return v

    linked = set()  # values produced by a linking op
    for n in graph.nodes:
        if n.op in linking:
            ins = [v for v in (n.inputs if n.op == "Concat" else n.inputs[:1]) if v]
            for v in [*ins, *(o for o in n.outputs if o)]:
                parent[find(v)] = find(ins[0])
            linked.update(o for o in n.outputs if o)
    members: dict[str, list[str]] = {}
    for v in set(parent) | set(roots):
        members.setdefault(find(v), []).append(v)

    def reader_ok(value: str, n: Node) -> bool:
        if n.name in chains:
            return n.inputs[0] == value and value not in n.inputs[1:]
        if n.name in chain_nodes or n.op in joins:
            return False
        if n.op in linking:
            return all(v in graph.constants or not v or v == value or find(v) == find(value)
                       for v in n.inputs[: None if n.op == "Concat" else 1])  # fmt: skip
        return True  # a float op: reads the dequantized value

    out = []
    for vals in members.values():
        if any(v not in roots and v not in linked for v in vals):
            continue  # a source that is not a quantized layer's output
        if all(reader_ok(v, n) for v in vals for n in consumers.get(v, [])):
            out.append(sorted(v for v in vals if v in roots))
    return out


def _plan(m: np.ndarray, reach: int, node: Node):
    try:
        return plan_multipliers(m, reach, f"node {node.name!r} ({node.op})")
    except FixedPointError as e:
        raise GraphError(str(e)) from None


def _rescaled_add(step, node, acc, rq, er, ey, s_acc, emit, const_vector, out_t):
    """requant="mul": `vtac.add`/`vtac.max` of the accumulator (channel scales `s_acc`)
    rescaled by a fixed-point multiply to exponent e_t and the int8 residual (exponent `er`)
    shifted left to it. Returns (the sum, e_t). The clamp's reach covers the output's int8
    range plus anything the residual can add (module docstring of `fixed_point.py`)."""
    e_t = max(min(er, ey) - MUL_ALIGN_BITS, er - MAX_ADD_SHIFT)
    sb, s = er - e_t, ey - e_t
    reach = int(np.ceil(129 * 2.0**s)) + (128 << sb)
    fp = _plan(s_acc / 2.0**e_t, reach, node)
    inputs = [acc, rq, const_vector(f"{node.name}_pre", fp.pre),
              const_vector(f"{node.name}_mult", fp.mult)]  # fmt: skip
    out = emit(
        "vtac.max" if step.op == "Max" else "vtac.add",
        inputs,
        out_t,
        {"shift_a": 0, "shift_b": sb, "shift_m": fp.shift},
        f"{step.outputs[0]}_acc",
    )
    return out, e_t


def quantize_int8(
    graph: Graph,
    ranges: Mapping[str, float],
    keep_first_float: bool = False,
    keep_last_float: bool = False,
    weight_mse: bool = False,
    skip: Callable[[Node, Graph], str | None] | None = None,
    per_channel: bool = True,
    round_weights: Callable[[Node, np.ndarray, np.ndarray], np.ndarray] | None = None,
    requant: str = "shift",
    free_activations: bool = True,
    free_concats: bool = False,
    free_ranges: Mapping[str, float] | None = None,
) -> tuple[Graph, QuantPlan]:
    """Quantize `graph` given calibrated ranges (`calibrate`); see the module docstring.

    `weight_mse` picks each weight exponent like the `mse` calibration method (it may clip a
    few outlier weights for finer resolution) instead of from max |W|. `skip(node, graph)`
    returning a reason keeps that anchor in float (e.g. one the accelerator cannot run).
    `per_channel` gives each output channel its own weight exponent (`per_channel.py`);
    False: one exponent per weight tensor. `round_weights(node, w, exps)` returns the int8
    weights at those exponents (data-aware rounding, `weight_rounding.py`); default: nearest.
    `requant="mul"`: free per-channel weight scales, requantized by the ALU's MUL (module
    docstring; the caller checks that the config has it). With it, `free_activations` also
    frees the scales of the activations that only conv/dense layers read (`free_scale_classes`;
    their exponents are then log2 of the scale, not integers; `free_concats` also joins a
    concat's inputs into one free scale), from `free_ranges` (ranges
    not rounded to a power of two, `calibrate.free_ranges_of`) where given, else `ranges`."""
    if requant not in REQUANT_MODES:
        raise ValueError(f"requant {requant!r} is not one of {REQUANT_MODES}")
    free = requant == "mul"
    uses = use_counts(graph)
    consumers = graph.consumers()
    ranges = shared_concat_ranges(graph, ranges)
    names = NameGen(graph)
    plan = QuantPlan()
    anchors = [n for n in graph.nodes if n.op in ("Conv", "Gemm", "MatMul")]
    eligible = []
    for a in anchors:
        why = _is_anchor(a, graph) or (skip(a, graph) if skip else None)
        if why:
            plan.kept_float[a.name] = why
        else:
            eligible.append(a)
    if eligible and keep_first_float:
        plan.kept_float[eligible[0].name] = "first layer kept in float (keep_first_float)"
        eligible = eligible[1:]
    if eligible and keep_last_float:
        plan.kept_float[eligible[-1].name] = "last layer kept in float (keep_last_float)"
        eligible = eligible[:-1]
    chains: dict[str, list[Node]] = {}
    claimed: set[str] = set()
    for a in eligible:
        chains[a.name] = _chain(a, graph, uses, consumers, claimed)
        claimed.update(n.name for n in chains[a.name])
    free_exp: dict[str, float] = {}  # quantized layers' outputs with a free scale
    classes = free_scale_classes(graph, chains, consumers, free_concats)
    for cls in classes if free and free_activations else ():
        r = max((free_ranges or ranges).get(v, ranges.get(v, 0.0)) for v in cls)
        if np.isfinite(r) and r > 0:
            free_exp.update(dict.fromkeys(cls, float(np.log2(r / INT8_MAX))))
    # Each anchor's int8 code is emitted where its chain ends, where every operand of the
    # chain (a residual computed after the anchor, say) is already defined.
    by_name = {n.name: n for n in graph.nodes}
    emit_at = {(ch[-1].name if ch else a): by_name[a] for a, ch in chains.items()}
    absorbed = {n.name for ch in chains.values() for n in ch} | set(chains)

    constants = dict(graph.constants)
    types = dict(graph.types)
    int8_of: dict[str, tuple[str, int]] = {}  # float value -> (int8 value, exponent)
    out_nodes: list[Node] = []

    def exp_of(value: str) -> int | float:
        if value not in ranges:
            raise ValueError(f"no calibration range for value {value!r}")
        if value in free_exp:
            return free_exp[value]  # a free scale (fixed_point.py), shared by its class
        return pow2_exponent(ranges[value])

    def emit(op: str, inputs, out_t: TensorType, attrs: dict, base: str, out: str | None = None):
        out = out or names(base)
        types[out] = out_t
        out_nodes.append(
            Node(names(f"{base}_{op.split('.')[-1]}"), op, tuple(inputs), (out,), attrs)
        )
        return out

    def const_vector(base: str, v: np.ndarray) -> str:
        name = names(base)
        constants[name] = np.asarray(v, dtype=np.int32)
        types[name] = TensorType.of(constants[name])
        return name

    def as_int8(value: str) -> tuple[str, int]:
        if value not in int8_of:
            e = exp_of(value)
            t = graph.types[value]
            q = emit(
                "vtac.quantize", [value], TensorType(t.shape, "int8"), {"exp": e}, f"{value}_q"
            )
            int8_of[value] = (q, e)
        return int8_of[value]

    i8 = make_ctx(graph, int8_of, exp_of, out_nodes, names, types)
    for original in graph.nodes:
        if original.name not in absorbed:
            if not int8_form(original, i8):  # data movement stays int8 (int8_ops.py)
                out_nodes.append(original)
            continue
        if original.name not in emit_at:
            continue
        node = emit_at[original.name]
        chain = chains[node.name]
        x = node.inputs[0]
        xq, ex = as_int8(x)
        w, b, attrs = _weights(node, graph)
        final = chain[-1].outputs[0] if chain else node.outputs[0]
        chain_values = {node.outputs[0]} | {s.outputs[0] for s in chain}
        if chain and (extra := constant_bias(chain[0], graph, node)) is not None:
            b = extra if b is None else b + extra
            chain = chain[1:]
        if w.size == 0:
            raise GraphError(f"node {node.name!r} ({node.op}): its weight holds no elements "
                             f"(shape {w.shape}); nothing to quantize")  # fmt: skip
        if free:  # float scales per channel: exponents log2(s_w), not integers
            sw = weight_scales(w, weight_mse)
            ew_c = np.log2(sw)
            ew = int(np.ceil(ew_c.max()))
            wq = round_weights(node, w, ew_c) if round_weights else quantize_weights_scaled(w, sw)
        else:
            ew_c = weight_exponents(w, weight_mse, per_channel)
            ew = int(ew_c.max())
            wq = round_weights(node, w, ew_c) if round_weights else quantize_weights(w, ew_c)
        wq_name, bq_name = names(f"{node.name}_wq"), names(f"{node.name}_bq")
        constants[wq_name] = wq
        types[wq_name] = TensorType.of(constants[wq_name])
        inputs = [xq, wq_name]
        e_acc, e_acc_c = ex + ew, ex + ew_c  # e_acc_c: per channel, until aligned
        rescaled = False  # requant="mul": the accumulator was rescaled before a residual add
        if b is not None:
            bq = np.clip(np.rint(b / 2.0**e_acc_c), INT32_MIN, INT32_MAX).astype(np.int32)
            constants[bq_name] = bq
            types[bq_name] = TensorType.of(bq)
            inputs.append(bq_name)
        op = "vtac.conv2d" if node.op == "Conv" else "vtac.dense"
        out_t = TensorType(graph.types[node.outputs[0]].shape, "int32")
        acc = emit(op, inputs, out_t, attrs, f"{node.outputs[0]}_acc")
        out_nodes[-1] = Node(node.name, op, tuple(inputs), (acc,), attrs)
        lo, hi = INT8_MIN, INT8_MAX
        ey = exp_of(final)
        for step in chain:
            if step.op in ("Add", "Sum", "Max"):
                other = next(i for i in step.inputs if i not in chain_values)
                rq, er = as_int8(other)
                add_in = [acc, rq]
                if free:
                    acc, e_acc = _rescaled_add(step, node, acc, rq, er, ey, 2.0**e_acc_c, emit,
                                               const_vector, out_t)  # fmt: skip
                    e_acc_c, rescaled = np.full_like(e_acc_c, e_acc), True
                    continue
                # Per-channel: round to one exponent first. An accumulator finer than the
                # residual by more than the ALU's left-shift range is rounded up to it too
                # (a tiny conv term beside a large residual: the bits dropped are below it).
                e_target = max(e_acc, er - MAX_ADD_SHIFT)
                if (e_acc_c != e_target).any():
                    add_in.append(const_vector(f"{node.name}_align", e_target - e_acc_c))
                    e_acc, e_acc_c = e_target, np.full_like(e_acc_c, e_target)
                # Align exponents with left shifts only: the result has the smaller exponent.
                e_new = min(e_acc, er)
                acc = emit(
                    "vtac.max" if step.op == "Max" else "vtac.add",
                    add_in,
                    out_t,
                    {"shift_a": e_acc - e_new, "shift_b": er - e_new},
                    f"{step.outputs[0]}_acc",
                )
                e_acc, e_acc_c = e_new, np.full_like(e_acc_c, e_new)
            elif step.op == "Relu":
                lo = max(lo, 0)
            elif step.op == "Clip":
                bounds = [constants[i] if i else None for i in step.inputs[1:3]]
                bounds += [None] * (2 - len(bounds))
                if graph.opset < 11:
                    bounds = [step.attr("min", None), step.attr("max", None)]
                if bounds[0] is not None:
                    lo = max(lo, int(np.ceil(float(bounds[0]) / 2.0**ey)))
                if bounds[1] is not None:
                    hi = min(hi, int(np.floor(float(bounds[1]) / 2.0**ey)))
        if free and not rescaled:
            fp = _plan(2.0**e_acc_c / 2.0**ey, 2**7, node)  # int8 output: clip at 127 / -128
            shift = fp.shift
            rq_in = [acc, const_vector(f"{node.name}_pre", fp.pre),
                     const_vector(f"{node.name}_mult", fp.mult)]  # fmt: skip
        else:
            shift, rest = requantize_shifts(ey - e_acc_c)
            rq_in = [acc]
            if rest is not None:
                rq_in.append(const_vector(f"{node.name}_shifts", rest))
        yq = emit(
            "vtac.requantize",
            rq_in,
            TensorType(out_t.shape, "int8"),
            {"shift": shift, "lo": lo, "hi": hi},
            f"{final}_q",
        )
        int8_of[final] = (yq, ey)
        i8.native.add(yq)
        emit("vtac.dequantize", [yq], graph.types[final], {"exp": ey}, final, out=final)
        per_c = [int(e) for e in ew_c] if not free and (ew_c != ew).any() else None
        plan.layers.append(
            QuantizedLayer(node.name, final, ex, ew, ey, [s.name for s in chain], per_c,
                           [float(v) for v in 2.0**ew_c] if free else None)
        )  # fmt: skip
    from compiler.graph.passes.dead_code import eliminate_dead_code

    result = graph.with_nodes(out_nodes, types=types, constants=constants)
    plan.int8_forms = {q: (value, e) for value, (q, e) in int8_of.items()}
    return eliminate_dead_code(result), plan
