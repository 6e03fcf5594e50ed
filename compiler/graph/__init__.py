"""vtac's graph level: a typed dataflow graph IR, its printer and verifier, a NumPy reference
executor that defines the semantics of every op, and the graph passes (`compiler.graph.passes`)."""
