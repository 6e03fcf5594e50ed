"""equalize_depthwise_inputs: per-channel power-of-two scaling of every depthwise conv's input,
undone in its weights, so that the input's one int8 exponent fits all its channels.

An activation has one exponent, but the channels entering a depthwise conv differ in range by up
to 12x in PP-OCR-det (p2o.Conv.3: channel maxima 1.8 .. 87.6, median 7.6): the small channels
get a handful of int8 levels. A depthwise conv computes each output channel from its own input
channel, so scaling input channel c by 2^s[c] and its filter by 2^-s[c] is exact in real
arithmetic (zero padding stays zero, the bias is untouched), and with per-channel weight
exponents (`per_channel.py`) the filter's scaling is only a change of its exponent: the int8
filter is the same. The input gains s[c] bits of resolution for nothing. (Cross-layer
equalization, Nagel et al. 2019, restricted to where it costs no weight precision.)

    s[c] = floor(log2(R / r[c])) - HEADROOM >= 0,  r[c] = max |x[:, c]| over the samples,

R the tensor's 99.99th percentile of |x| (per sample, then the largest): the range its one
exponent is chosen for. Channels are lifted *into* that range, not to the largest channel's
max: lifting them to an outlier channel's max would move the tensor's exponent up and coarsen
the large channels, which carry most of the signal (measured: worse end to end on PP-OCR).
Each shift is capped so that the filter's per-channel exponents keep within
`MAX_CHANNEL_SPREAD`, and at `MAX_SHIFT`; a shift folded into a producer conv is also capped so
that the producer's requantize still shifts right on every channel (`fold_cap`: the tensor SHR
cannot shift left). Where the scaling goes:
- the input is a Conv's output (through a Relu): into that conv's output channels (W, b rows
  times 2^s[c]; Relu commutes with a positive scale). The producer's per-channel weight
  exponents absorb it: no new op, the producer's int8 output is equalized;
- the input is made by a float (CPU) op: a `Mul` by the per-channel constant 2^s is inserted
  before the depthwise conv (a float elementwise op next to the ones computing the input);
- anything else (a graph input, int8 data movement such as a max pool or concat, a value with
  other consumers that a producer fold would change): left alone.
Values keep their names; a folded producer's output then holds its scaled values (as
`fold_hardsigmoid` does), which only the conv reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.rewrite import use_counts
from compiler.graph.quant.calibrate import pow2_exponent
from compiler.graph.quant.per_channel import MAX_CHANNEL_SPREAD

HEADROOM = 1  # bits below the range a channel is lifted to: room for values the samples missed
MAX_SHIFT = 8  # at most 256x: beyond it the channel is (nearly) dead, more gains nothing
TOP_PERCENTILE = 99.99
# Ops whose output is computed in float on the CPU anyway: a per-channel Mul after them is one
# more elementwise step there. Not listed: data movement (MaxPool, Concat, Split, Resize) and
# Relu / Clip / a residual Add, which stay int8 after a quantized conv (a Mul would force them
# back to float); an Add counts only with a constant operand (an affine step, float).
FLOAT_PRODUCERS = {"Sub", "Mul", "Div", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh"}


def _float_producer(node: Node | None, graph: Graph) -> bool:
    if node is None:
        return False
    if node.op == "Add":
        return any(i in graph.constants for i in node.inputs)
    return node.op in FLOAT_PRODUCERS


def is_depthwise(node: Node, graph: Graph) -> bool:
    """A Conv with constant 4-D weights, one input and one output channel per group."""
    if node.op != "Conv" or node.inputs[1] not in graph.constants:
        return False
    w = graph.constants[node.inputs[1]]
    group = int(node.attr("group", 1))
    if w.ndim != 4 or graph.types[node.inputs[0]].rank != 4:
        return False
    return group > 1 and w.shape[0] == group and w.shape[1] == 1
    # (graph.types[x].shape[1] == group follows from a valid conv with w.shape[1] == 1)


def _row_exponents(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max |W| per output channel, its int8 max-exponent; 0 for an all-zero channel)."""
    flat = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    return flat, np.array([pow2_exponent(float(a)) if a > 0 else 0 for a in flat], np.int64)


def channel_shifts(ranges: np.ndarray, w: np.ndarray, top: float | None = None) -> np.ndarray:
    """s[c] >= 0: the power of two that brings channel c's range within 2^(1 + HEADROOM)x of
    `top` (default: the largest channel range; HEADROOM bits left for values the calibration
    samples did not show: lifting to the full range measured worse on a seeded ShuffleNet unit,
    9.5 % vs 6.2 % relative L2), capped by MAX_SHIFT and by the filter's exponent spread (its
    channel c scaled by 2^-s[c])."""
    top = float(ranges.max()) if top is None else float(top)
    s = np.zeros(len(ranges), dtype=np.int64)
    if top <= 0:
        return s
    live = ranges > 0
    s[live] = np.floor(np.log2(top / ranges[live])).astype(np.int64) - HEADROOM
    s = np.clip(s, 0, MAX_SHIFT)
    flat, e_w = _row_exponents(w)
    nz = flat > 0
    if nz.any():  # keep max(e_w - s) - min(e_w - s) <= MAX_CHANNEL_SPREAD over nonzero filters
        top_e = int((e_w - s)[nz].max())
        s = np.where(nz, np.minimum(s, e_w - (top_e - MAX_CHANNEL_SPREAD)), s)
        s = np.maximum(s, 0)
    return s


FOLD_MARGIN = 1  # bits kept between a lifted channel's accumulator step and the output step


def fold_cap(pw: np.ndarray, top_in: float, top_out: float) -> np.ndarray:
    """Per output channel of a producer conv (weights `pw`), the largest lift 2^s that keeps its
    requantize shift e_y - e_x - e_w[c] - s >= 0 (FOLD_MARGIN bits to spare): e_x, e_y the int8
    exponents of the producer's input and output ranges as percentile calibration picks them,
    e_w[c] the channel's max-|W| exponent (an MSE choice is never coarser). A lift beyond it
    would need a left shift, which the per-channel tensor SHR cannot do."""
    flat, e_w = _row_exponents(pw)
    cap = pow2_exponent(top_out) - pow2_exponent(top_in) - e_w - FOLD_MARGIN
    return np.where(flat > 0, cap, MAX_SHIFT)


def _fold_target(x: str, graph: Graph, producers, uses) -> tuple[Node, Node | None] | None:
    """(conv, relu or None) when `x` is conv(...) or relu(conv(...)), each link used once."""
    node = producers.get(x)
    relu = None
    if node is not None and node.op == "Relu" and uses.get(x, 0) == 1:
        relu, x = node, node.inputs[0]
        node = producers.get(x)
    if node is None or node.op != "Conv" or uses.get(x, 0) != 1 or x in graph.outputs:
        return None
    if node.inputs[1] not in graph.constants:
        return None
    if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in graph.constants:
        return None
    return node, relu


def channel_ranges(graph: Graph, values: Sequence[str], samples):
    """Per value over the samples (float run): max |x| per channel (axis 1), and the largest
    per-sample TOP_PERCENTILE of |x| over the whole tensor (the range its one exponent covers,
    as the `percentile` calibration method sees it)."""
    out: dict[str, np.ndarray] = {}
    top: dict[str, float] = {}
    for feeds in samples:
        env = run_graph(graph, feeds, keep_all=True)
        for v in values:
            mag = np.abs(env[v].astype(np.float64))
            r = mag.max(axis=(0, 2, 3))
            out[v] = r if v not in out else np.maximum(out[v], r)
            top[v] = max(top.get(v, 0.0), float(np.percentile(mag, TOP_PERCENTILE)))
    return out, top


def equalize_depthwise_inputs(
    graph: Graph, samples: Sequence[Mapping[str, np.ndarray]]
) -> tuple[Graph, dict[str, int]]:
    """The rewritten graph and, per depthwise conv equalized, the largest shift applied."""
    producers = graph.producers()
    uses = use_counts(graph)
    dws = [n for n in graph.nodes if is_depthwise(n, graph)]
    if not dws or not samples:
        return graph, {}
    targets = {n.name: _fold_target(n.inputs[0], graph, producers, uses) for n in dws}
    values = {n.inputs[0] for n in dws}
    values |= {t[0].inputs[0] for t in targets.values() if t is not None}
    ranges, tops = channel_ranges(graph, sorted(values), samples)
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    replace: dict[str, Node] = {}  # node name -> rewritten node
    before: dict[str, list[Node]] = {}  # node name -> nodes to insert before it
    done: dict[str, int] = {}
    for dw in dws:
        x = dw.inputs[0]
        w = np.asarray(graph.constants[dw.inputs[1]], np.float64)
        s = channel_shifts(ranges[x], w, tops[x])
        if not s.any() or dw.name in replace:
            continue
        target = targets[dw.name]
        if target is not None and target[0].name in replace:
            continue
        if target is not None:
            pw = np.asarray(graph.constants[target[0].inputs[1]], np.float64)
            s = np.clip(np.minimum(s, fold_cap(pw, tops[target[0].inputs[0]], tops[x])), 0, None)
            if not s.any():
                continue
        up = 2.0 ** s.astype(np.float64)
        if target is None:
            if not _float_producer(producers.get(x), graph):
                continue
            scale = names(f"{dw.name}_eq_scale")
            constants[scale] = up.astype(np.float32).reshape(1, -1, 1, 1)
            types[scale] = TensorType.of(constants[scale])
            x_eq = names(f"{x}_eq")
            types[x_eq] = graph.types[x]
            before[dw.name] = [Node(names(f"{dw.name}_eq"), "Mul", (x, scale), (x_eq,))]
            new_x = x_eq
        else:
            conv = target[0]
            pw = graph.constants[conv.inputs[1]]
            wn = names(f"{conv.name}_eq_w")
            constants[wn] = (pw.astype(np.float64) * up.reshape(-1, 1, 1, 1)).astype(pw.dtype)
            types[wn] = TensorType.of(constants[wn])
            ins = [conv.inputs[0], wn]
            if len(conv.inputs) > 2 and conv.inputs[2]:
                b = graph.constants[conv.inputs[2]]
                bn = names(f"{conv.name}_eq_b")
                constants[bn] = (np.asarray(b, np.float64) * up).astype(b.dtype)
                types[bn] = TensorType.of(constants[bn])
                ins.append(bn)
            replace[conv.name] = Node(conv.name, conv.op, tuple(ins), conv.outputs, conv.attrs)
            new_x = x
        wd = names(f"{dw.name}_eq_w")
        constants[wd] = (w / up.reshape(-1, 1, 1, 1)).astype(graph.constants[dw.inputs[1]].dtype)
        types[wd] = TensorType.of(constants[wd])
        replace[dw.name] = Node(dw.name, dw.op, (new_x, wd, *dw.inputs[2:]), dw.outputs, dw.attrs)
        done[dw.name] = int(s.max())
    if not done:
        return graph, {}
    nodes: list[Node] = []
    for node in graph.nodes:
        nodes.extend(before.get(node.name, []))
        nodes.append(replace.get(node.name, node))
    from compiler.graph.passes.dead_code import eliminate_dead_code

    return eliminate_dead_code(graph.with_nodes(nodes, types=types, constants=constants)), done
