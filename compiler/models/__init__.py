"""Built-in models, written as graph IR with `GraphBuilder` (no ONNX file needed): the demo's
and the tests' workloads. `BUILTIN_MODELS[name](**options)` returns a float `Graph`; every
builder takes `seed`, `image` and `batch`."""

from __future__ import annotations

from compiler.models.mobilenet import mobilenet
from compiler.models.resnet import resnet18
from compiler.models.yolo import yolo

BUILTIN_MODELS = {"resnet18": resnet18, "mobilenet": mobilenet, "yolo": yolo}


def build_builtin(name: str, shapes: dict, image: int | None = None):
    """The built-in model `name`, sized by a `--shape input=N,C,H,W` entry of `shapes` (batch
    N, image H) or else by `image`; the builder's defaults otherwise."""
    kwargs = {"image": image} if image else {}
    if "input" in shapes:
        kwargs.update(batch=shapes["input"][0], image=shapes["input"][2])
    return BUILTIN_MODELS[name](**kwargs)


__all__ = ["BUILTIN_MODELS", "build_builtin", "mobilenet", "resnet18", "yolo"]
