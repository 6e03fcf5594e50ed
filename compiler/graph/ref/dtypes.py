"""ONNX TensorProto data type codes <-> NumPy dtypes (without importing onnx)."""

from __future__ import annotations

import numpy as np

# TensorProto.DataType values (onnx.proto): only the types the graph level computes with.
ONNX_TO_NUMPY: dict[int, type] = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    4: np.uint16,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
    12: np.uint32,
    13: np.uint64,
}
NUMPY_TO_ONNX: dict[str, int] = {np.dtype(v).name: k for k, v in ONNX_TO_NUMPY.items()}


def onnx_dtype_to_numpy(code: int) -> type | None:
    return ONNX_TO_NUMPY.get(int(code)) if code is not None else None
