"""Run NumPy's BLAS single-threaded inside the simulator.

The simulator's matrix products are small (tens to a few hundred rows) and many. OpenBLAS splits
them over threads that then spin between calls; on a loaded machine a 256x16x256 product took
milliseconds instead of microseconds. `single_threaded_blas()` sets OpenBLAS to one thread for
the duration of a run and restores the previous count after, so nothing outside the simulator
is affected. Without a recognizable OpenBLAS (other BLAS builds) it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from collections.abc import Iterator
from functools import cache

import numpy as np

# (get, set) symbol pairs of the OpenBLAS builds NumPy wheels ship.
_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


@cache
def _openblas() -> tuple | None:
    libs_dir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs_dir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: the same handle
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            if hasattr(lib, get_name) and hasattr(lib, set_name):
                getter, setter = getattr(lib, get_name), getattr(lib, set_name)
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    fns = _openblas()
    if fns is None:
        yield
        return
    getter, setter = fns
    before = getter()
    if before == 1:
        yield
        return
    setter(1)
    try:
        yield
    finally:
        setter(before)
