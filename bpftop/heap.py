"""One malloc arena for the whole process (glibc), set before any thread starts.

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
