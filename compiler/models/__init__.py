"""Built-in models, written as graph IR with `GraphBuilder` (no ONNX file needed): the demo's
and the tests' workloads. `BUILTIN_MODELS[name](**options)` returns a float `Graph`."""

from __future__ import annotations

from compiler.models.resnet import resnet18

BUILTIN_MODELS = {"resnet18": resnet18}

__all__ = ["BUILTIN_MODELS", "resnet18"]
