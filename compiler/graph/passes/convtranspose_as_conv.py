"""convtranspose_as_conv: a ConvTranspose whose kernel equals its stride becomes a 1x1 conv with
s*s times the output channels followed by a depth-to-space interleave (sub-pixel convolution).

With kernel == stride = s, no padding and group 1, every output pixel receives exactly one
kernel tap: out[n, co, s*i + a, s*j + b] = sum_ci x[n, ci, i, j] * W[ci, co, a, b] + B[co].
That is a 1x1 conv over the input resolution with output channel (co, a, b) (CRD order,
weight W'[co*s*s + a*s + b, ci] = W[ci, co, a, b]), then DepthToSpace(s, "CRD"), written as
the Reshape -> Transpose -> Reshape that defines it (ops with int8 forms and CPU kernels).
The 1x1 conv quantizes like any conv and runs on the GEMM unit; the interleave is exact data
movement on the int8 tensor. MACs are those of the ConvTranspose (no zeros multiplied).

Why not the other lowering, a conv over a zero-inserted input: the accelerator's load unit
pads only at tile borders, so the zeros would have to be written by the CPU into an input
s*s times larger, and the GEMM unit would spend s*s times the MACs on them. The sub-pixel
form multiplies nothing twice and moves only the output once.

Absorbed into the 1x1 conv, so that its epilogue does their work: a per-channel constant
`Add` after the ConvTranspose (exporters such as paddle2onnx emit the bias that way), an
inference `BatchNormalization` after it, and a `Relu` (it commutes with the interleave). Each
only when the value between is read by that node alone and is not a graph output. The float
graph keeps its ConvTranspose (the rewrite runs on the graph to quantize, like
`avgpool_as_conv`); the 1x1 conv keeps the ConvTranspose's node name so the MAC count and the
reports name the model's layer. Other ConvTransposes (kernel != stride, pads, groups, output
padding) stay float on the CPU.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.rewrite import use_counts


def subpixel_problem(node: Node, graph: Graph) -> str | None:
    """None if `node` (a ConvTranspose) is a sub-pixel 1x1 conv, else why not."""
    x_t = graph.types[node.inputs[0]]
    if x_t.rank != 4:
        return "not a 2-D ConvTranspose"
    if node.inputs[1] not in graph.constants:
        return "weights are not constant"
    if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in graph.constants:
        return "bias is not constant"
    w = graph.types[node.inputs[1]].shape
    kernel = tuple(node.attr("kernel_shape", w[2:]))
    strides = tuple(node.attr("strides", (1, 1)))
    if kernel != strides or kernel[0] != kernel[1] or tuple(kernel) != tuple(w[2:]):
        return f"kernel {kernel} != strides {strides} (or not square)"
    if int(node.attr("group", 1)) != 1:
        return "grouped"
    if any(node.attr("pads", (0, 0, 0, 0))) or any(node.attr("output_padding", (0, 0))):
        return "pads or output_padding"
    if any(d != 1 for d in node.attr("dilations", (1, 1))):
        return "dilated"
    if node.attr("output_shape", None) is not None:
        return "explicit output_shape"
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return "auto_pad"
    return None


def _channel_vector(value: np.ndarray, channels: int) -> np.ndarray | None:
    """A constant that broadcasts per channel over (1, C, H, W) as a (C,) vector, else None."""
    v = np.asarray(value)
    if v.ndim > 4 or v.size not in (1, channels):
        return None
    if v.size == channels and channels > 1:
        shape = (1,) * (4 - v.ndim) + v.shape
        if shape[0] != 1 or shape[2:] != (1, 1):
            return None
    return np.broadcast_to(v.reshape(-1), (channels,)).astype(np.float64)


def convtranspose_as_conv(graph: Graph) -> Graph:
    names = NameGen(graph)
    constants, types = dict(graph.constants), dict(graph.types)
    uses = use_counts(graph)
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    absorbed: set[str] = set()
    replaced: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if node.op != "ConvTranspose" or subpixel_problem(node, graph):
            continue
        w = constants[node.inputs[1]].astype(np.float64)  # (C_in, C_out, s, s)
        cin, cout, s, _ = w.shape
        has_b = len(node.inputs) > 2 and node.inputs[2]
        bias = constants[node.inputs[2]].astype(np.float64) if has_b else np.zeros(cout)
        scale = np.ones(cout)
        out, relu = node.outputs[0], False
        while uses.get(out, 0) == 1 and out not in outputs and not relu:
            (nxt,) = consumers[out]
            if nxt.op == "Add" and len(nxt.inputs) == 2:
                other = nxt.inputs[1] if nxt.inputs[0] == out else nxt.inputs[0]
                vec = _channel_vector(constants[other], cout) if other in constants else None
                if vec is None or types[nxt.outputs[0]] != types[out]:
                    break
                bias = bias + vec  # after the scale: adds in output units
            elif nxt.op == "BatchNormalization" and len([o for o in nxt.outputs if o]) == 1:
                if nxt.attr("training_mode", 0) or not all(i in constants for i in nxt.inputs[1:5]):
                    break
                gamma, beta, mean, var = (constants[i].astype(np.float64) for i in nxt.inputs[1:5])
                k = gamma / np.sqrt(var + nxt.attr("epsilon", 1e-5))
                scale, bias = scale * k, (bias - mean) * k + beta
            elif nxt.op == "Relu":
                relu = True
            else:
                break
            absorbed.add(nxt.name)
            out = nxt.outputs[0]
        n, _, h, wd = graph.types[node.inputs[0]].shape
        dtype = constants[node.inputs[1]].dtype
        # W'[co*s*s + a*s + b, ci, 0, 0] = W[ci, co, a, b] * scale[co]
        w1 = (w * scale[None, :, None, None]).transpose(1, 2, 3, 0).reshape(cout * s * s, cin)
        wname, bname = names(f"{node.name}_subpixel_w"), names(f"{node.name}_subpixel_b")
        constants[wname] = w1.reshape(cout * s * s, cin, 1, 1).astype(dtype)
        constants[bname] = np.repeat(bias, s * s).astype(dtype)
        types[wname], types[bname] = (TensorType.of(constants[v]) for v in (wname, bname))
        conv_out = names(f"{node.name}_subpixel")
        types[conv_out] = TensorType((n, cout * s * s, h, wd), types[out].dtype)
        attrs = dict(kernel_shape=(1, 1), strides=(1, 1), pads=(0, 0, 0, 0), group=1)
        new = [Node(node.name, "Conv", (node.inputs[0], wname, bname), (conv_out,), attrs)]
        src = conv_out
        if relu:
            src = names(f"{node.name}_subpixel_relu")
            types[src] = types[conv_out]
            new.append(Node(names(f"{node.name}_relu"), "Relu", (conv_out,), (src,)))
        new += _depth_to_space(node.name, src, out, (n, cout, h, wd), s, names, constants, types)
        replaced[node.name] = new
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        nodes += replaced.get(node.name, [node])
    return graph.with_nodes(nodes, types=types, constants=constants)


def _depth_to_space(base, src, out, shape, s, names, constants, types) -> list[Node]:
    """DepthToSpace(s, CRD) of `src` into `out` as Reshape -> Transpose -> Reshape."""
    n, c, h, w = shape
    dtype = types[src].dtype
    six = (n, c, s, s, h, w)
    moved = (n, c, h, s, w, s)
    s6, s4 = names(f"{base}_d2s_shape6"), names(f"{base}_d2s_shape4")
    constants[s6] = np.array(six, np.int64)
    constants[s4] = np.array((n, c, h * s, w * s), np.int64)
    types[s6], types[s4] = TensorType.of(constants[s6]), TensorType.of(constants[s4])
    a, b = names(f"{base}_d2s_split"), names(f"{base}_d2s_moved")
    types[a], types[b] = TensorType(six, dtype), TensorType(moved, dtype)
    return [
        Node(names(f"{base}_d2s_reshape"), "Reshape", (src, s6), (a,)),
        Node(names(f"{base}_d2s_transpose"), "Transpose", (a,), (b,), {"perm": (0, 1, 4, 2, 5, 3)}),
        Node(names(f"{base}_d2s_merge"), "Reshape", (b, s4), (out,)),
    ]
