"""Less common ONNX ops: normalizations, more activations, trigonometry, indexing/scatter,
Einsum, CumSum, TopK, Trilu, OneHot, Mod."""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KernelCtx, kernel
from compiler.graph.ref.elementwise import unary_kernel

_TRIG = {
    "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan, "Sinh": np.sinh,
    "Cosh": np.cosh, "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh,
}  # fmt: skip


for _op, _fn in _TRIG.items():
    kernel(_op)(unary_kernel(_fn))


@kernel("IsNaN")
def is_nan(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.isnan(x)


@kernel("IsInf")
def is_inf(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    return (np.isposinf(x) & bool(pos)) | (np.isneginf(x) & bool(neg))


@kernel("Softsign")
def softsign(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return (x / (1 + np.abs(x))).astype(x.dtype)


@kernel("ThresholdedRelu")
def thresholded_relu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.where(x > ctx.attr("alpha", 1.0), x, 0).astype(x.dtype)


@kernel("Celu")
def celu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    a = ctx.attr("alpha", 1.0)
    return (np.maximum(0, x) + np.minimum(0, a * (np.exp(x / a) - 1))).astype(x.dtype)


@kernel("Mish")
def mish(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype)


@kernel("Gelu")
def gelu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    if ctx.attr("approximate", "none") == "tanh":
        y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    else:
        from compiler.graph.ref.elementwise import erf

        y = 0.5 * x * (1 + erf(ctx, (x / np.sqrt(2)).astype(x.dtype)))
    return y.astype(x.dtype)


@kernel("Shrink")
def shrink(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    lambd, bias = ctx.attr("lambd", 0.5), ctx.attr("bias", 0.0)
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)).astype(x.dtype)


@kernel("Hardmax")
def hardmax(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    axis = ctx.attr("axis", -1)
    idx = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.zeros_like(x)
    np.put_along_axis(out, idx, 1, axis=axis)
    return out


@kernel("Mod")
def mod(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if ctx.attr("fmod", 0):
        return np.fmod(a, b).astype(a.dtype)
    return np.mod(a, b).astype(a.dtype)


def _normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps), mean, var


@kernel("LayerNormalization")
def layer_norm(ctx: KernelCtx, x, scale, bias=None):
    axis = ctx.attr("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    y, mean, var = _normalize(x.astype(np.float64), axes, ctx.attr("epsilon", 1e-5))
    y = y * scale
    if bias is not None:
        y = y + bias
    outs = [y.astype(x.dtype)]
    if ctx.num_outputs > 1:
        outs.append(mean.astype(np.float32))
    if ctx.num_outputs > 2:
        outs.append((1 / np.sqrt(var + ctx.attr("epsilon", 1e-5))).astype(np.float32))
    return tuple(outs) if len(outs) > 1 else outs[0]


@kernel("InstanceNormalization")
def instance_norm(ctx: KernelCtx, x, scale, bias):
    y, _, _ = _normalize(x.astype(np.float64), tuple(range(2, x.ndim)), ctx.attr("epsilon", 1e-5))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


@kernel("CumSum")
def cumsum(ctx: KernelCtx, x: np.ndarray, axis: np.ndarray) -> np.ndarray:
    ax = int(np.asarray(axis).ravel()[0])
    y = np.flip(x, ax) if ctx.attr("reverse", 0) else x
    out = np.cumsum(y, axis=ax)
    if ctx.attr("exclusive", 0):
        out = out - y
    return (np.flip(out, ax) if ctx.attr("reverse", 0) else out).astype(x.dtype)


@kernel("Trilu")
def trilu(ctx: KernelCtx, x: np.ndarray, k: np.ndarray | None = None) -> np.ndarray:
    kk = 0 if k is None else int(np.asarray(k).ravel()[0])
    return np.triu(x, kk) if ctx.attr("upper", 1) else np.tril(x, kk)


@kernel("Einsum")
def einsum(ctx: KernelCtx, *xs: np.ndarray) -> np.ndarray:
    return np.asarray(np.einsum(ctx.attr("equation").replace(" ", ""), *xs)).astype(xs[0].dtype)


@kernel("OneHot")
def one_hot(ctx: KernelCtx, indices, depth, values) -> np.ndarray:
    d = int(np.asarray(depth).ravel()[0])
    axis = ctx.attr("axis", -1)
    idx = np.where(indices < 0, indices + d, indices).astype(np.int64)
    hot = np.arange(d) == idx[..., None]
    out = np.where(hot, values[1], values[0]).astype(values.dtype)
    rank = out.ndim
    return np.moveaxis(out, -1, axis % rank)


@kernel("GatherND")
def gather_nd(ctx: KernelCtx, data: np.ndarray, idx: np.ndarray) -> np.ndarray:
    b = int(ctx.attr("batch_dims", 0))
    batch = data.shape[:b]
    flat_data = data.reshape((-1,) + data.shape[b:])
    flat_idx = idx.reshape((-1,) + idx.shape[b:])
    outs = []
    for d, i in zip(flat_data, flat_idx, strict=True):
        k = i.shape[-1]
        outs.append(d[tuple(np.moveaxis(i, -1, 0))] if k else d)
    out = np.stack(outs)
    return out.reshape(batch + out.shape[1:])


@kernel("ScatterElements")
def scatter_elements(ctx: KernelCtx, data, idx, updates) -> np.ndarray:
    axis = ctx.attr("axis", 0) % data.ndim
    red = ctx.attr("reduction", "none")
    out = data.copy()
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    for pos in np.ndindex(*idx.shape):
        target = list(pos)
        target[axis] = idx[pos]
        t = tuple(target)
        u = updates[pos]
        out[t] = {"none": u, "add": out[t] + u, "mul": out[t] * u,
                  "max": max(out[t], u), "min": min(out[t], u)}[red]  # fmt: skip
    return out


@kernel("ScatterND")
def scatter_nd(ctx: KernelCtx, data, idx, updates) -> np.ndarray:
    red = ctx.attr("reduction", "none")
    out = data.copy()
    for pos in np.ndindex(*idx.shape[:-1]):
        t = tuple(idx[pos])
        u = updates[pos]
        out[t] = {"none": u, "add": out[t] + u, "mul": out[t] * u,
                  "max": np.maximum(out[t], u), "min": np.minimum(out[t], u)}[red]  # fmt: skip
    return out


@kernel("TopK")
def top_k(ctx: KernelCtx, x: np.ndarray, k: np.ndarray):
    kk = int(np.asarray(k).ravel()[0])
    axis = ctx.attr("axis", -1) % x.ndim
    largest = ctx.attr("largest", 1)
    # Stable sort: ties keep the lower index first, as ONNX requires.
    # (~x reverses the order of unsigned values, where -x would wrap around.)
    key = (~x if x.dtype.kind == "u" else -x) if largest else x
    order = np.argsort(key, axis=axis, kind="stable")
    idx = np.take(order, np.arange(kk), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)
