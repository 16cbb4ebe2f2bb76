"""The one-arena setting (glibc takes it, threads then share the main arena) and the collector's settings."""

from __future__ import annotations

import gc
import subprocess
import sys

from bpftop.heap import YOUNG_THRESHOLD, settle_gc

# glibc's malloc_info lists one <heap nr=...> per arena. The thread mallocs
# through libc itself: Python's own small objects come from pymalloc, and
# large ones are mmap'd, so neither is sure to touch an arena (counting
# /proc/self/maps lines instead was flaky).
SCRIPT = """
import ctypes, threading
from bpftop.heap import one_malloc_arena
assert one_malloc_arena()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
libc.fdopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fflush.argtypes = (ctypes.c_void_p,)
def work():
    for p in [libc.malloc(1000) for _ in range(100)]:
        libc.free(p)
t = threading.Thread(target=work); t.start(); t.join()
out = libc.fdopen(1, b"w")
libc.malloc_info(0, out)
libc.fflush(out)
"""


def arenas(extra: str) -> int:
    """glibc's arenas after a thread allocated."""
    out = subprocess.run([sys.executable, "-c", extra + SCRIPT], capture_output=True, text=True, check=True)
    return out.stdout.count("<heap nr=")


def test_glibc_takes_it_and_a_thread_gets_no_arena_of_its_own() -> None:
    assert arenas("") == 1
    assert arenas("import bpftop.heap as h; h.one_malloc_arena = lambda: True\n") == 2


def test_settle_gc_freezes_what_exists_and_collects_young_objects_less_often() -> None:
    threshold = gc.get_threshold()
    kept = object.__new__(type("Kept", (), {}))
    try:
        settle_gc()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold[1:])
        assert gc.get_freeze_count() > 0
        assert not any(kept in gc.get_objects(generation=g) for g in (0, 1, 2))  # permanent now
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
