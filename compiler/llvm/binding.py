"""The one module of vtac that imports llvmlite.

The rest of the backend takes llvmlite's IR builder (`ir`) and its LLVM bindings (`llvm`) from
here, so the dependency has a single entry point: a version pin, a shim or a replacement
touches this file only.
"""

import llvmlite.binding as llvm
from llvmlite import ir

__all__ = ["ir", "llvm"]
