"""Built-in models, written as graph IR with `GraphBuilder` (no ONNX file needed): the demo's
and the tests' workloads. `BUILTIN_MODELS[name](**options)` returns a float `Graph`; every
builder takes `seed`, `image` and `batch`."""

from __future__ import annotations

from compiler.models.mobilenet import mobilenet
from compiler.models.resnet import resnet18
from compiler.models.yolo import yolo

BUILTIN_MODELS = {"resnet18": resnet18, "mobilenet": mobilenet, "yolo": yolo}

__all__ = ["BUILTIN_MODELS", "mobilenet", "resnet18", "yolo"]
