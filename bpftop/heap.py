"""Memory: one malloc arena for the whole process (glibc), and the garbage collector after start-up.

glibc gives each thread that allocates its own arena and seldom returns their
free space: the sampling thread's arena (libbpf's object loads and vmlinux
BTF, map dumps, the per-tick objects) kept ~8 MB of free memory resident
beside the main thread's. bpftop's threads hold the GIL for almost all they
allocate, so they gain nothing from separate arenas; with one, the dashboard's
RSS at 300 processes went from ~95 to ~86 MB (issue 23). Elsewhere (musl,
macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import gc

M_ARENA_MAX = -8  # malloc.h
LIBC = "libc.so.6"  # glibc's soname (ctypes.util.find_library runs ldconfig: ~10 ms)


def one_malloc_arena() -> bool:
    """``mallopt(M_ARENA_MAX, 1)``; True when glibc took it. Call before starting threads."""
    try:
        mallopt = ctypes.CDLL(LIBC).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))


# A refresh makes tens of thousands of tuples that live until the next one
# (the previous frame): at the default threshold (700) each tick ran ~10
# young-generation collections that walked them all, ~2.6 ms of a 30 ms
# batch tick at 300 processes. bpftop makes few reference cycles, and those
# wait a few ticks at most.
YOUNG_THRESHOLD = 50_000


def settle_gc() -> None:
    """After start-up: keep what exists out of every collection, and collect young objects less often.

    BPF objects, symbol tables and widgets made at start-up live as long as
    bpftop; ``gc.freeze`` keeps the collector from walking them again
    (a full collection walked ~30,000 objects: 21 ms).
    """
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    gc.freeze()
