"""The accelerator backend: VTA operators, schedules, loop-IR passes and code generation."""
