"""vtac compiler: ONNX frontend, graph IR, tensor expressions, loop IR, VTA and LLVM backends."""
