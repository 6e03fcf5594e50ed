"""The LLVM backend: loop IR -> LLVM IR -> host machine code. llvmlite is imported only in
`compiler/llvm/binding.py`."""

from compiler.llvm.codegen import CodegenError, ModuleCode, generate  # noqa: F401
from compiler.llvm.jit import compile_module, host, vector_lanes, vector_registers  # noqa: F401
