"""fold_batchnorm: fold an inference `BatchNormalization` into the `Conv` or `Gemm` before it.

BN(y) = (y - mean) * s + beta with s = gamma / sqrt(var + eps), per output channel. When y =
conv(x, W) + b, BN(y) = conv(x, W * s) + (b - mean) * s + beta, so the BN disappears. Applies
when the producer's weights (and bias) are constants, all BN parameters are constants and the
producer's output feeds only the BN. For `Gemm` the output channel is the last axis
(transB=1: W is [N, K], rows are scaled; transB=0: columns).

Why: the accelerator has no BN; folded weights quantize as one tensor.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, NameGen, Node, TensorType
from compiler.graph.passes.rewrite import use_counts


def fold_batchnorm(graph: Graph) -> Graph:
    producers = graph.producers()
    uses = use_counts(graph)
    constants = dict(graph.constants)
    types = dict(graph.types)
    names = NameGen(graph)
    replaced: dict[str, Node] = {}  # producer name -> folded producer
    dropped: set[str] = set()
    for bn in graph.nodes:
        if bn.op != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1:
            continue
        if bn.attr("training_mode", 0):
            continue
        src = producers.get(bn.inputs[0])
        if src is None or src.op not in ("Conv", "Gemm") or uses.get(bn.inputs[0], 0) != 1:
            continue
        if src.name in replaced or not all(i in constants for i in bn.inputs[1:5]):
            continue
        w_name = src.inputs[1]
        b_name = src.inputs[2] if len(src.inputs) > 2 and src.inputs[2] else None
        if w_name not in constants or (b_name and b_name not in constants):
            continue
        if src.op == "Gemm" and (src.attr("alpha", 1.0) != 1.0 or src.attr("beta", 1.0) != 1.0):
            continue
        gamma, beta, mean, var = (constants[i].astype(np.float64) for i in bn.inputs[1:5])
        scale = gamma / np.sqrt(var + bn.attr("epsilon", 1e-5))
        w = constants[w_name].astype(np.float64)
        if src.op == "Conv":
            w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
            channels = w.shape[0]
        elif src.attr("transB", 0):
            w = w * scale[:, None]
            channels = w.shape[0]
        else:
            w = w * scale[None, :]
            channels = w.shape[1]
        if scale.shape != (channels,):
            continue
        b = constants[b_name].astype(np.float64) if b_name else np.zeros(channels)
        b = np.broadcast_to(b, (channels,)) if b.size in (1, channels) else None
        if b is None:
            continue
        new_b = (b - mean) * scale + beta
        dtype = constants[w_name].dtype
        nw, nb = names(f"{w_name}_bnfold"), names(f"{src.name}_bias_bnfold")
        constants[nw] = w.astype(dtype)
        constants[nb] = new_b.astype(dtype)
        types[nw], types[nb] = TensorType.of(constants[nw]), TensorType.of(constants[nb])
        replaced[src.name] = Node(
            src.name,
            src.op,
            (src.inputs[0], nw, nb),
            bn.outputs,
            src.attrs,
            src.group,
            src.target,
            src.reason,
        )
        dropped.add(bn.name)
    nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in dropped]
    return graph.with_nodes(nodes, types=types, constants=constants)
