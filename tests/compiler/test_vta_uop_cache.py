"""The micro-op kernel cache: hits reuse resident kernels, misses load, placement wraps."""

from __future__ import annotations

import pytest

from compiler.vta.nest import VtaPassError
from compiler.vta.uop_cache import UopCache


def test_uop_cache_hits_and_wraps():
    c = UopCache(depth=8)
    a, b, d = ((0, 0, 0),) * 3, ((1, 0, 0),) * 4, ((2, 0, 0),) * 3
    assert c.lookup(a) == (0, True)
    assert c.lookup(b) == (3, True)
    assert c.lookup(a) == (0, False)
    assert c.lookup(d) == (0, True)  # does not fit after b: wraps, evicts a
    assert c.lookup(a) == (3, True)  # a was evicted; placed after d, evicting b
    with pytest.raises(VtaPassError, match="exceeds"):
        c.lookup(((0, 0, 0),) * 9)
