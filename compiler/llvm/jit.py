"""One process-wide LLVM JIT for the host CPU: optimize (new pass manager, O3), emit, load.

`compile_module(code)` turns a `ModuleCode` (from `codegen.generate`) into the addresses of its
entry points. Every module goes through an object file: looked up in the disk cache by
`hash(IR text, host CPU name, host CPU features, backend version)`, else optimized at O3 for
the host CPU, emitted and stored. Objects are added to a single MCJIT engine (llvmlite 0.50 /
LLVM 22 must not call `llvm.initialize()`); a module already loaded in this process is not
loaded twice.

Debug output (stderr): `VTAC_DEBUG=2` prints the loop IR of each kernel built (runtime.build),
`=3` also the optimized LLVM IR of each kernel compiled (not loaded from the cache), `=4` also
its assembly.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

from compiler.llvm.binding import llvm
from compiler.llvm.cache import ObjectCache, cache_dir, cache_key
from compiler.llvm.codegen import SYMBOL_PLACEHOLDER, ModuleCode

BACKEND_VERSION = "vtac-llvm-2"


@dataclass
class _Host:
    cpu: str
    features: str
    tm: llvm.TargetMachine
    engine: llvm.ExecutionEngine


_lock = threading.Lock()
_host_lock = threading.Lock()
_host: _Host | None = None
_loaded: dict[str, dict[str, int]] = {}  # key -> symbol -> address
stats = {"compiled": 0, "cache_hits": 0, "reused": 0}


def host() -> _Host:
    """The host CPU description and the process-wide JIT engine (created on first use)."""
    global _host
    with _host_lock:  # two threads compiling their first kernels must share one engine
        if _host is None:
            _host = _create_host()
    return _host


def _create_host() -> _Host:
    """The target machine for the host CPU (its name and features) and one MCJIT engine."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    cpu = llvm.get_host_cpu_name()
    features = llvm.get_host_cpu_features().flatten()
    target = llvm.Target.from_default_triple()
    tm = target.create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="default", codemodel="jitdefault", jit=True
    )
    empty = llvm.parse_assembly("")
    empty.triple = target.triple
    return _Host(cpu, features, tm, llvm.create_mcjit_compiler(empty, tm))


def vector_lanes(dtype_bytes: int = 4) -> int:
    """Elements of `dtype_bytes` in one SIMD register of the host (AVX-512: 64 B, AVX: 32 B)."""
    feats = host().features
    width = 64 if "+avx512f" in feats else 32 if "+avx" in feats else 16
    return width // dtype_bytes


def vector_registers() -> int:
    """Architectural SIMD registers of the host (AVX-512: 32, AVX/SSE: 16)."""
    return 32 if "+avx512f" in host().features else 16


def _with_host_attributes(text: str, h: _Host) -> str:
    """Mark every defined function with the host CPU and its features, so LLVM's cost models
    (vectorizer, unroller) and instruction selection see the same machine."""
    attrs = f'nounwind "target-cpu"="{h.cpu}" "target-features"="{h.features}"'
    return "\n".join(
        line[: -len("nounwind")] + attrs
        if line.startswith("define ") and line.endswith(") nounwind")
        else line
        for line in text.split("\n")
    )


def _optimize_and_emit(text: str, name: str) -> bytes:
    h = host()
    mod = llvm.parse_assembly(_with_host_attributes(text, h))
    mod.triple = h.tm.triple
    mod.data_layout = str(h.tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(h.tm, pto)
    pb.getModulePassManager().run(mod, pb)
    try:
        level = int(os.environ.get("VTAC_DEBUG", "0"))
    except ValueError:
        level = 0
    if level >= 3:
        print(f"; ---- optimized LLVM IR of {name}\n{mod}", file=sys.stderr)
    if level >= 4:
        print(f"; ---- assembly of {name}\n{h.tm.emit_assembly(mod)}", file=sys.stderr)
    return h.tm.emit_object(mod)


def compile_module(code: ModuleCode, name: str = "kernel", use_cache: bool = True) -> list[int]:
    """Addresses of `code.stages`' entry points, in order (compiling or loading as needed)."""
    h = host()
    key = cache_key(BACKEND_VERSION, h.cpu, h.features, code.text)
    prefix = f"vtac_{key[:24]}_"
    symbols = [s.symbol.replace(SYMBOL_PLACEHOLDER, prefix) for s in code.stages]
    with _lock:
        if key in _loaded:
            stats["reused"] += 1
            return [_loaded[key][s] for s in symbols]
        cache = ObjectCache(cache_dir() if use_cache else None)
        obj = cache.get(key)
        if obj is None:
            obj = _optimize_and_emit(code.text.replace(SYMBOL_PLACEHOLDER, prefix), name)
            cache.put(key, obj)
            stats["compiled"] += 1
        else:
            stats["cache_hits"] += 1
        h.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        h.engine.finalize_object()
        addrs = {s: h.engine.get_function_address(s) for s in symbols}
        missing = [s for s, a in addrs.items() if not a]
        if missing:
            raise RuntimeError(f"kernel {name}: JIT did not resolve {missing}")
        _loaded[key] = addrs
        return [addrs[s] for s in symbols]
