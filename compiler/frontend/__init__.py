"""Frontends: model formats -> vtac graph IR. `onnx_import` is the only module that imports onnx."""
