"""Run compiled loop-IR kernels on NumPy arrays, with parallel stages on a thread pool.

`build(func)` compiles a PrimFunc (see `compiler/llvm/codegen.py` for the stage contract) and
returns a `CpuKernel`; calling it with one C-contiguous NumPy array per parameter runs every
stage in order. A parallel stage's iteration range is cut into chunks that the calling thread
and the pool's threads take dynamically (ctypes releases the GIL during the call), so a busy
second core slows the run down gracefully instead of stalling it on a fixed half.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from compiler.cpu.passes import prepare
from compiler.llvm import compile_module, generate
from compiler.llvm.codegen import ModuleCode, buffer_size
from compiler.tir.nodes import PrimFunc
from compiler.tir.printer import print_func
from compiler.tir.transform import debug_print

_NP_DTYPES = {
    "float32": np.float32, "float64": np.float64, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "int32": np.int32, "int64": np.int64, "bool": np.bool_,
}  # fmt: skip


def _threads_from_env() -> int:
    text = os.environ.get("VTAC_NUM_THREADS", "")
    try:
        n = int(text) if text else 0
    except ValueError:
        warnings.warn(f"VTAC_NUM_THREADS={text!r} is not an integer; using all cores", stacklevel=2)
        n = 0
    return n if n > 0 else (os.cpu_count() or 1)


# Chunks a parallel stage is cut into, per thread: more chunks balance the load better when
# another process holds a core (a preempted thread stalls the call by at most one chunk), at
# the cost of one ctypes call each.
CHUNKS_PER_THREAD = 4
_pool: ThreadPoolExecutor | None = None
_num_threads = _threads_from_env()
_pool_lock = threading.Lock()


def set_num_threads(n: int) -> None:
    """Threads used by parallel stages from now on (1 runs everything on the calling thread)."""
    global _num_threads, _pool
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    with _pool_lock:
        if _pool is not None and n != _num_threads:
            _pool.shutdown(wait=True)
            _pool = None
        _num_threads = n


def num_threads() -> int:
    return _num_threads


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, _num_threads - 1)  # the calling thread is the other worker
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vtac-cpu")
        return _pool


class CpuKernel:
    """A compiled PrimFunc. Call with arrays matching `func.params` (shape, dtype, C order).

    The kernel's temporaries are allocated once and reused, so one CpuKernel must not be
    called from two Python threads at the same time (its own parallel stages are fine)."""

    def __init__(self, func: PrimFunc, code: ModuleCode, addresses: list[int]):
        self.func = func
        self.code = code
        n_ptr = len(func.params) + len(code.temps)
        proto = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_ptr), ctypes.c_int64, ctypes.c_int64)
        self._entries = [proto(a) for a in addresses]
        self._temps = [np.empty(buffer_size(b), dtype=_NP_DTYPES[b.dtype]) for b in code.temps]

    def _check(self, arrays) -> list[int]:
        if len(arrays) != len(self.func.params):
            raise TypeError(
                f"kernel {self.func.name}: expected {len(self.func.params)} arrays "
                f"({', '.join(b.name for b in self.func.params)}), got {len(arrays)}"
            )
        ptrs = []
        for arr, buf in zip(arrays, self.func.params, strict=True):
            want = _NP_DTYPES[buf.dtype]
            if not isinstance(arr, np.ndarray) or arr.dtype != want:
                got = getattr(arr, "dtype", type(arr).__name__)
                raise TypeError(
                    f"kernel {self.func.name}: buffer {buf.name} needs {want.__name__}, got {got}"
                )
            if arr.size < buffer_size(buf) or not arr.flags.c_contiguous:
                raise ValueError(
                    f"kernel {self.func.name}: buffer {buf.name} needs a C-contiguous array of "
                    f"shape {tuple(buf.shape)}, got {arr.shape}"
                )
            ptrs.append(arr.ctypes.data)
        return ptrs + [t.ctypes.data for t in self._temps]

    def __call__(self, *arrays: np.ndarray) -> None:
        ptrs = self._check(arrays)
        threads = _num_threads
        for entry, stage in zip(self._entries, self.code.stages, strict=True):
            extent = stage.parallel_extent
            if extent is None or threads == 1 or extent == 1:
                entry(*ptrs, 0, extent or 1)
            else:
                _run_parallel(entry, ptrs, extent, threads)


def _run_parallel(entry, ptrs: list[int], extent: int, threads: int) -> None:
    """Run `entry` over [0, extent) in chunks taken dynamically by `threads` workers: the
    calling thread and `threads - 1` pool threads. A few chunks per thread balance the load
    when another process holds a core, and the call returns as soon as every chunk is done —
    it never waits for a pool thread the scheduler has not run yet (that thread later finds
    no chunk left and returns)."""
    n_chunks = min(extent, threads * CHUNKS_PER_THREAD)
    bounds = [extent * k // n_chunks for k in range(n_chunks + 1)]
    counter = itertools.count()  # next() on it is atomic under the GIL
    done = itertools.count(1)
    finished = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while (k := next(counter)) < n_chunks:
                entry(*ptrs, bounds[k], bounds[k + 1])
                if next(done) == n_chunks:
                    finished.set()
        except BaseException as err:  # a failed chunk must not leave the caller waiting
            errors.append(err)
            finished.set()

    pool = _get_pool()
    for _ in range(threads - 1):
        pool.submit(worker)
    worker()
    finished.wait()
    if errors:
        raise errors[0]


def build(func: PrimFunc, use_cache: bool = True) -> CpuKernel:
    """Compile `func` for the host CPU (or load it from the kernel cache)."""
    func = prepare(func)
    debug_print(2, f"# ---- loop IR of {func.name} for the CPU\n{print_func(func)}")
    code = generate(func)
    return CpuKernel(func, code, compile_module(code, func.name, use_cache=use_cache))
