"""Element-wise ops with NumPy broadcasting (ONNX multidirectional broadcasting = NumPy's)."""

from __future__ import annotations

import math

import numpy as np

from compiler.graph.ref import KernelCtx, kernel

_UNARY = {
    "Abs": np.abs,
    "Neg": np.negative,
    "Exp": np.exp,
    "Log": np.log,
    "Sqrt": np.sqrt,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Reciprocal": np.reciprocal,
    "Tanh": np.tanh,
    "Sin": np.sin,
    "Cos": np.cos,
    "Sign": np.sign,
    "Not": np.logical_not,
}


def unary_kernel(fn):
    """A kernel applying the NumPy function `fn` element-wise, keeping the input dtype."""

    def run(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
        return fn(x).astype(x.dtype, copy=False)

    return run


for _op, _fn in _UNARY.items():
    kernel(_op)(unary_kernel(_fn))


@kernel("Erf")
def erf(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


@kernel("Round")
def round_(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.rint(x)  # ONNX rounds half to even, as np.rint does


@kernel("Identity", "Dropout")
def identity(ctx: KernelCtx, x: np.ndarray, *rest: np.ndarray | None):
    if ctx.op == "Dropout":
        # Inference semantics: output = input; the optional mask is all ones.
        if ctx.num_outputs > 1:
            return x, np.ones(x.shape, dtype=bool)
    return x


@kernel("Relu")
def relu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.zeros((), x.dtype))


@kernel("LeakyRelu")
def leaky_relu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    alpha = ctx.attr("alpha", 0.01)
    return np.where(x >= 0, x, x * x.dtype.type(alpha)).astype(x.dtype)


@kernel("Elu")
def elu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    alpha = ctx.attr("alpha", 1.0)
    return np.where(x > 0, x, alpha * (np.exp(x) - 1)).astype(x.dtype)


@kernel("Selu")
def selu(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    alpha = ctx.attr("alpha", 1.67326319217681884765625)
    gamma = ctx.attr("gamma", 1.05070102214813232421875)
    return (gamma * np.where(x > 0, x, alpha * (np.exp(x) - 1))).astype(x.dtype)


@kernel("Sigmoid")
def sigmoid(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    # Split by sign so that exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out


@kernel("HardSigmoid")
def hard_sigmoid(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    alpha = ctx.attr("alpha", 0.2)
    beta = ctx.attr("beta", 0.5)
    return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1).astype(x.dtype)


@kernel("HardSwish")
def hard_swish(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return (x * np.clip(x * x.dtype.type(1 / 6) + x.dtype.type(0.5), 0, 1)).astype(x.dtype)


@kernel("Softplus")
def softplus(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x).astype(x.dtype)


@kernel("Clip")
def clip(ctx: KernelCtx, x: np.ndarray, lo=None, hi=None) -> np.ndarray:
    if ctx.opset < 11:
        lo = ctx.attr("min", None)
        hi = ctx.attr("max", None)
    out = x
    if lo is not None and np.size(lo):
        out = np.maximum(out, np.asarray(lo, dtype=x.dtype))
    if hi is not None and np.size(hi):
        out = np.minimum(out, np.asarray(hi, dtype=x.dtype))
    return out.astype(x.dtype, copy=False)


def _binary(fn):
    def run(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(fn(a, b))

    return run


@kernel("Add")
def add(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a + b).astype(np.result_type(a.dtype, b.dtype), copy=False)


@kernel("Sub")
def sub(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a - b).astype(np.result_type(a.dtype, b.dtype), copy=False)


@kernel("Mul")
def mul(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a * b).astype(np.result_type(a.dtype, b.dtype), copy=False)


@kernel("Div")
def div(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        # ONNX integer division truncates toward zero.
        with np.errstate(divide="ignore"):
            return np.trunc(a / b).astype(a.dtype)
    return np.asarray(a / b).astype(a.dtype, copy=False)


@kernel("Pow")
def pow_(ctx: KernelCtx, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(a, b.astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else b).astype(
        a.dtype
    )


@kernel("PRelu")
def prelu(ctx: KernelCtx, x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    return np.where(x < 0, x * slope, x).astype(x.dtype)


_CMP = {
    "Equal": np.equal,
    "Less": np.less,
    "Greater": np.greater,
    "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
}
for _op, _fn in _CMP.items():
    kernel(_op)(_binary(_fn))


@kernel("Where")
def where(ctx: KernelCtx, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(cond, a, b)


def _variadic(fn):
    def run(ctx: KernelCtx, *xs: np.ndarray) -> np.ndarray:
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return np.asarray(out).astype(xs[0].dtype, copy=False)

    return run


kernel("Sum")(_variadic(np.add))
kernel("Max")(_variadic(np.maximum))
kernel("Min")(_variadic(np.minimum))


@kernel("Mean")
def mean(ctx: KernelCtx, *xs: np.ndarray) -> np.ndarray:
    return (_variadic(np.add)(ctx, *xs) / len(xs)).astype(xs[0].dtype)


@kernel("Cast")
def cast(ctx: KernelCtx, x: np.ndarray) -> np.ndarray:
    from compiler.graph.ref.dtypes import onnx_dtype_to_numpy

    to = onnx_dtype_to_numpy(ctx.attr("to"))
    if to is None:
        raise ctx.error(f"cast to ONNX data type {ctx.attr('to')} is not supported")
    return x.astype(to)


@kernel("CastLike")
def cast_like(ctx: KernelCtx, x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return x.astype(like.dtype)
