"""The LLVM backend: loop IR -> LLVM IR -> host machine code. The only importer of llvmlite."""

from compiler.llvm.codegen import CodegenError, ModuleCode, generate  # noqa: F401
from compiler.llvm.jit import compile_module, host, vector_lanes, vector_registers  # noqa: F401
