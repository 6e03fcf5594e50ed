"""Reductions (ReduceMean/Sum/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare), ArgMax/ArgMin.

Axes come from the `axes` attribute before opset 18 (13 for ReduceSum) and from the second
input after; `noop_with_empty_axes=1` with no axes returns the input unchanged."""

from __future__ import annotations

import numpy as np

from compiler.graph.ref import KernelCtx, kernel

_REDUCERS = {
    "ReduceMean": lambda x, a, k: np.mean(x, axis=a, keepdims=k),
    "ReduceSum": lambda x, a, k: np.sum(x, axis=a, keepdims=k),
    "ReduceMax": lambda x, a, k: np.max(x, axis=a, keepdims=k),
    "ReduceMin": lambda x, a, k: np.min(x, axis=a, keepdims=k),
    "ReduceProd": lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    "ReduceL1": lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k),
    "ReduceL2": lambda x, a, k: np.sqrt(np.sum(np.square(x), axis=a, keepdims=k)),
    "ReduceLogSum": lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k)),
    "ReduceLogSumExp": lambda x, a, k: np.log(np.sum(np.exp(x), axis=a, keepdims=k)),
    "ReduceSumSquare": lambda x, a, k: np.sum(np.square(x), axis=a, keepdims=k),
}

# Opset from which each reduction takes `axes` as an input instead of an attribute.
AXES_AS_INPUT_FROM = {op: 18 for op in _REDUCERS} | {"ReduceSum": 13}


def _extremes(dtype: np.dtype):
    if dtype == np.bool_:
        return False, True
    if np.issubdtype(dtype, np.integer):
        return np.iinfo(dtype).min, np.iinfo(dtype).max
    return -np.inf, np.inf


def _reduce(op: str):
    fn = _REDUCERS[op]

    def run(ctx: KernelCtx, x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
        if ctx.opset < AXES_AS_INPUT_FROM[op]:
            axes = ctx.attr("axes", None)
        keep = bool(ctx.attr("keepdims", 1))
        if axes is None or len(np.atleast_1d(axes)) == 0:
            if ctx.attr("noop_with_empty_axes", 0):
                return x
            axes_t = None
        else:
            axes_t = tuple(int(a) % x.ndim for a in np.atleast_1d(axes))
        if x.size == 0 or (axes_t is not None and any(x.shape[a] == 0 for a in axes_t)):
            # Empty reductions: the identity of the reduction (ONNX reference behaviour).
            with np.errstate(divide="ignore"):
                shape = np.sum(x, axis=axes_t, keepdims=keep).shape
                lo, hi = _extremes(x.dtype)
                if op in ("ReduceMax", "ReduceLogSumExp"):
                    return np.full(shape, lo, dtype=x.dtype)
                if op == "ReduceMin":
                    return np.full(shape, hi, dtype=x.dtype)
        with np.errstate(divide="ignore"):
            return np.asarray(fn(x, axes_t, keep)).astype(x.dtype)

    return run


for _op in _REDUCERS:
    kernel(_op)(_reduce(_op))


def _arg(fn):
    def run(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
        axis = int(ctx.attr("axis", 0)) % x.ndim
        keep = bool(ctx.attr("keepdims", 1))
        if ctx.attr("select_last_index", 0):
            flipped = np.flip(x, axis=axis)
            idx = x.shape[axis] - 1 - fn(flipped, axis=axis)
        else:
            idx = fn(x, axis=axis)
        if keep:
            idx = np.expand_dims(idx, axis)
        return idx.astype(np.int64)

    return run


kernel("ArgMax")(_arg(np.argmax))
kernel("ArgMin")(_arg(np.argmin))
