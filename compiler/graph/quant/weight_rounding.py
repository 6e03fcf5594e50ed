"""Data-aware rounding of int8 weights (GPTQ, Frantar et al. 2023, "Accurate Post-Training
Quantization for Generative Pre-trained Transformers"): choose each layer's integer weights to
minimize the layer's output error on its calibration inputs, not each weight's own error.

Why: rounding every weight to nearest makes errors that cancel only when they are independent.
When a layer's weights share values (the ONNX test models' generated fills hold one value per
tensor), every weight rounds the same way: the layer gains a systematic factor, e.g.
rint(0.02 / 2**-12) / (0.02 / 2**-12) = 82 / 81.92 = 1.00098, that compounds through the
network (light ResNet-50: 1.0037 per layer over 53 layers); a free float scale (onnxruntime's)
makes such weights exact. Data-aware rounding rounds some weights up and others down so that
the output on the calibration inputs stays close, whatever the weights are.

For a layer y = W x (per group of a conv: x the im2col patch, K = C/group * kh * kw values):
    minimize over integer Q:  sum over calibration patches ||(Q * 2**e - W) x||^2
          = tr(D H D^T),  D = Q * 2**e - W,  H = sum x x^T  (K x K, shared by all rows)
GPTQ rounds the columns in order and spreads each column's rounding error onto the columns not
yet rounded through the Cholesky factor of H^-1 (lazy batch updates of `BLOCK` columns); each
weight may only become the integer just below or just above its float value (as in AdaRound):
plain GPTQ let weights drift many steps along directions the calibration inputs do not span
(channels that hold equal values), which raised the error on other inputs. The
exponents are fixed beforehand (`per_channel.weight_exponents`); rows are in units of their
own channel's step, which leaves the objective's per-row structure unchanged.

H is estimated from few patches where a layer sees few (a dense layer: one row per image):
the part of H beyond the mean direction is shrunk towards its diagonal by K / (K + P) (P the
number of patches), so that a layer fit on ten images keeps what generalizes (the mean input
direction, which carries the systematic gain) and does not fit those images' own noise.
The datapath is unchanged: only the int8 weight constants differ from round-to-nearest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from compiler.graph.executor import run_graph
from compiler.graph.ir import Graph, Node
from compiler.graph.ref.vtac_ops import INT8_MAX

ROUNDINGS = ("gptq", "nearest")
BLOCK = 128  # columns rounded between two lazy batch updates
DAMP = 0.01  # added to H's diagonal, as a share of its mean (GPTQ's default)
MAX_COLUMNS = 16384  # K above this (H would take > 1 GiB): round to nearest


class SecondMoments:
    """Running sum of x and x x^T over the input patches of one layer (per conv group)."""

    def __init__(self, groups: int, k: int) -> None:
        self.s1 = np.zeros((groups, k), np.float64)
        self.s2 = np.zeros((groups, k, k), np.float32)
        self.count = 0
        # Inputs are scaled by one constant per layer (H's scale does not change the rounding):
        # activations of 1e15 (the light models' generated weights) would overflow float32.
        self.scale: float | None = None

    def add(self, patches: np.ndarray) -> None:
        """`patches`: [groups, P, K] float32."""
        if self.scale is None:
            amax = float(np.abs(patches).max()) if patches.size else 0.0
            self.scale = 1.0 / amax if amax > 0 and np.isfinite(amax) else 1.0
        patches = (patches.astype(np.float64) * self.scale).astype(np.float32)
        for g, p in enumerate(patches):
            self.s1[g] += p.sum(axis=0, dtype=np.float64)
            self.s2[g] += p.T @ p
        self.count += patches.shape[1]

    def hessian(self, g: int) -> np.ndarray:
        """H of group g: the mean direction exactly, the rest shrunk towards its diagonal."""
        p, k = max(self.count, 1), self.s1.shape[1]
        mu = self.s1[g] / p
        mean_part = p * np.outer(mu, mu)
        rest = self.s2[g].astype(np.float64) - mean_part
        alpha = k / (k + p)
        rest = (1.0 - alpha) * rest + alpha * np.diag(np.diag(rest))
        return mean_part + rest


def conv_patches(x: np.ndarray, attrs: Mapping, kernel: tuple[int, int]) -> np.ndarray:
    """im2col of an NCHW float input: [groups, N * OH * OW, C/groups * kh * kw] float32, in
    the order of OIHW weights flattened per output channel."""
    n, c, _, _ = x.shape
    kh, kw = kernel
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    pads = attrs["pads"]
    g = attrs["group"]
    xp = np.pad(x.astype(np.float32), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1),
                                                   axis=(2, 3))  # fmt: skip
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # [N, C, OH, OW, kh, kw]
    oh, ow = win.shape[2], win.shape[3]
    win = win.reshape(n, g, c // g, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    return np.ascontiguousarray(win).reshape(g, n * oh * ow, (c // g) * kh * kw)


def gptq_round(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Integers Q (float64, in [-127, 127]) for the rows of `w` ([N, K], in units of each row's
    step) that keep ||(Q - w) x|| small for inputs x of second moment `h` ([K, K])."""
    w_in = w.astype(np.float64)
    w = w_in.copy()
    h = h.astype(np.float64).copy()
    k = w.shape[1]
    if not np.isfinite(h).all():  # no usable statistics: plain rounding
        return np.clip(np.rint(w), -INT8_MAX, INT8_MAX)
    dead = np.diag(h) <= 0  # inputs that are always zero: their weights do not matter
    h[dead, dead] = 1.0
    diag = np.arange(k)
    h[diag, diag] += DAMP * float(np.mean(np.diag(h)))
    try:
        u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper: H^-1 = U^T U
    except np.linalg.LinAlgError:  # not positive definite even damped: plain rounding
        return np.clip(np.rint(w), -INT8_MAX, INT8_MAX)
    q = np.empty_like(w)
    for i1 in range(0, k, BLOCK):
        i2 = min(i1 + BLOCK, k)
        w1 = w[:, i1:i2]
        err1 = np.empty_like(w1)
        u1 = u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = w1[:, i]
            # Only the two integers next to the original weight (AdaRound's constraint): the
            # compensation picks the direction of rounding, never moves a weight further, so
            # directions the calibration inputs do not span cannot hide large changes.
            lo = np.floor(w_in[:, i1 + i])
            qc = np.clip(np.clip(np.rint(col), lo, lo + 1), -INT8_MAX, INT8_MAX)
            q[:, i1 + i] = qc
            e = (col - qc) / u1[i, i]
            w1[:, i:] -= np.outer(e, u1[i, i:])
            err1[:, i] = e
        w[:, i2:] -= err1 @ u[i1:i2, i2:]
    if not np.isfinite(q).all():  # a numerically broken factorization: plain rounding
        return np.clip(np.rint(w_in), -INT8_MAX, INT8_MAX)
    return q


def _anchor_inputs(node: Node, w: np.ndarray, attrs: Mapping) -> tuple[int, int]:
    """(groups, K) of the layer's input patches."""
    if node.op == "Conv":
        g = int(attrs["group"])
        return g, w.shape[1] * w.shape[2] * w.shape[3]
    return 1, w.shape[1]


def collect_moments(
    graph: Graph,
    anchors: Iterable[Node],
    weights: Callable[[Node], tuple[np.ndarray, Mapping]],
    samples: Iterable[Mapping[str, np.ndarray]],
) -> dict[str, SecondMoments]:
    """Second moments of every anchor's float input patches over `samples` (float runs)."""
    work = []
    for node in anchors:
        w, attrs = weights(node)
        g, k = _anchor_inputs(node, w, attrs)
        if k <= MAX_COLUMNS:
            work.append((node, w.shape, attrs, SecondMoments(g, k)))
    for feeds in samples:
        env = run_graph(graph, feeds, keep_all=True)
        for node, shape, attrs, mom in work:
            x = env[node.inputs[0]]
            if node.op == "Conv":
                mom.add(conv_patches(x, attrs, shape[2:]))
            else:
                mom.add(x.reshape(1, -1, x.shape[-1]).astype(np.float32))
    return {node.name: mom for node, _, _, mom in work}


def round_weights(w: np.ndarray, exps: np.ndarray, mom: SecondMoments | None) -> np.ndarray:
    """int8 weights for `w` (OIHW or [N, K]) at per-channel exponents `exps`: GPTQ rounding
    given the layer's input moments, round to nearest without them."""
    scale = 2.0 ** exps.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    units = w.astype(np.float64) / scale
    if mom is None:
        return np.clip(np.rint(units), -INT8_MAX, INT8_MAX).astype(np.int8)
    rows = units.reshape(w.shape[0], -1)
    groups = mom.s1.shape[0]
    per = w.shape[0] // groups
    q = np.empty_like(rows)
    for g in range(groups):
        q[g * per : (g + 1) * per] = gptq_round(rows[g * per : (g + 1) * per], mom.hessian(g))
    return q.reshape(w.shape).astype(np.int8)
