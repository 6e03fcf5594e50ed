"""The CPU runtime's parallel-for: who runs the chunks, that every index is covered once, and
that a failing chunk is reported instead of leaving the caller waiting."""

from __future__ import annotations

import threading

import pytest

from compiler.cpu import runtime
from compiler.cpu.runtime import num_threads, set_num_threads


def _recording_entry(log: list):
    """A stand-in for a compiled stage: records (thread, begin, end) per chunk."""

    def entry(*args):
        log.append((threading.get_ident(), args[-2], args[-1]))

    return entry


def test_parallel_for_covers_the_range_exactly_once():
    before = num_threads()
    set_num_threads(2)
    try:
        for extent in (2, 3, 7, 8, 100):
            log: list = []
            runtime._run_parallel(_recording_entry(log), [], extent, 2)
            covered = sorted(i for _, b, e in log for i in range(b, e))
            assert covered == list(range(extent)), extent
    finally:
        set_num_threads(before)


def test_parallel_for_uses_the_calling_thread_and_the_pool():
    """With 2 threads, chunks run on the caller and on the pool's thread (both cores). The
    caller's chunks wait (up to 30 s, never reached unless the pool is unused) until the pool
    thread has taken a chunk, so the check does not depend on how busy the machine is."""
    caller = threading.get_ident()
    pool_ran = threading.Event()
    log: list = []

    def entry(*args):
        log.append((threading.get_ident(), args[-2], args[-1]))
        if threading.get_ident() == caller:
            pool_ran.wait(30)
        else:
            pool_ran.set()

    before = num_threads()
    set_num_threads(2)
    try:
        runtime._run_parallel(entry, [], 8, 2)
    finally:
        set_num_threads(before)
    threads = {t for t, _, _ in log}
    assert caller in threads and len(threads) == 2


def test_parallel_for_reports_a_failing_chunk():
    def entry(*args):
        if args[-2] >= 4:
            raise RuntimeError("chunk failed")

    before = num_threads()
    set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="chunk failed"):
            runtime._run_parallel(entry, [], 8, 2)
    finally:
        set_num_threads(before)
