"""int8 quantization with power-of-two scales (see `docs/graph.md`, "Quantization")."""
