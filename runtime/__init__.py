"""vtac runtime: devices, artifacts, graph executor, CLI."""
