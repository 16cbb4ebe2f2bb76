"""The one-arena setting: glibc takes it, and threads then share the main arena."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import threading
from bpftop.heap import one_malloc_arena
assert one_malloc_arena()
def work():
    blobs = [bytearray(200_000) for _ in range(50)]  # malloc'd, not pymalloc'd
    del blobs
t = threading.Thread(target=work); t.start(); t.join()
print(open("/proc/self/maps").read().count("\\n"))
"""


def arenas(extra: str) -> int:
    """Lines of /proc/self/maps after a thread allocated: a second arena maps 64 MB more."""
    out = subprocess.run([sys.executable, "-c", extra + SCRIPT], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_glibc_takes_it_and_a_thread_gets_no_arena_of_its_own() -> None:
    # A thread's own arena is a 64 MB reservation (two mappings: used and PROT_NONE).
    with_one = arenas("")
    without = arenas("import bpftop.heap as h; h.one_malloc_arena = lambda: True\n")
    assert with_one < without, (with_one, without)
