"""The CPU path: operators as loop IR (TE + CPU schedules, or generators), compiled by the LLVM
backend (`compiler.llvm`) and run on NumPy arrays (`runtime.build`, `ops`, `graph_kernels`).
See docs/cpu.md."""
