"""Programs and maps for the bpf pane's tests and benchmark, loaded outside bpftop.

``tests/bpf/bpfstats_test.bpf.c`` holds a socket filter whose name is longer
than the kernel keeps, a hash map of structs and a per-CPU array, all with BTF;
``plain_map`` makes a map without BTF. Run as a script, this module loads N
copies of the object in its own process (an owner that is not bpftop) and
waits until its stdin closes: ``python bpfstats_objects.py OBJ N``.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "tests" / "bpf" / "bpfstats_test.bpf.c"
PROG_NAME = "bpftop_test_socket_filter"
MAP_TYPE_HASH = 1


def build(out_dir: Path) -> Path:
    """Compile the test object into ``out_dir`` with the project's flags."""
    import importlib.util

    if not shutil.which("clang"):
        raise RuntimeError("clang not installed: needed to build the bpf pane's test object")
    spec = importlib.util.spec_from_file_location("build_bpf", REPO / "scripts" / "build_bpf.py")
    assert spec and spec.loader
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return builder.compile_one(SOURCE, out_dir, "clang", "llvm-strip")


class LoadedObject:
    """One loaded copy of the test object (nothing attached)."""

    def __init__(self, path: Path) -> None:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from bpftop.bpf._ffi import ffi, lib

        self._lib, self._ffi = lib(), ffi
        self._obj = self._lib.bpf_object__open_file(str(path).encode(), ffi.NULL)
        if self._obj == ffi.NULL:
            raise OSError(ffi.errno, f"open {path}")
        err = self._lib.bpf_object__load(self._obj)
        if err:
            self.close()
            raise OSError(-err, f"load {path}")
        prog = self._lib.bpf_object__next_program(self._obj, ffi.NULL)
        self.prog_fd = int(self._lib.bpf_program__fd(prog))

    def map_fd(self, name: str) -> int:
        """Fd of the object's map ``name``."""
        m = self._lib.bpf_object__find_map_by_name(self._obj, name.encode())
        return int(self._lib.bpf_map__fd(m))

    def update(self, name: str, key: bytes, value: bytes) -> None:
        """Write one entry."""
        if self._lib.bpf_map_update_elem(self.map_fd(name), key, value, 0):
            raise OSError(self._ffi.errno, f"update {name}")

    def close(self) -> None:
        """Unload (the kernel frees what no one else holds)."""
        if self._obj is not None:
            self._lib.bpf_object__close(self._obj)
            self._obj = None


def plain_map(name: str, key_size: int, value_size: int, max_entries: int) -> int:
    """A hash map created without BTF; returns its fd (the caller closes it)."""
    from bpftop.bpf._ffi import lib

    fd = int(
        lib().bpf_map_create(MAP_TYPE_HASH, name.encode(), key_size, value_size, max_entries, ffi_null())
    )
    if fd < 0:
        raise OSError(-fd, f"create map {name}")
    return fd


def ffi_null() -> object:
    """cffi's NULL, for optional arguments."""
    from bpftop.bpf._ffi import ffi

    return ffi.NULL


def raise_fd_limit(needed: int) -> None:
    """Each loaded object holds a few fds; lift the soft limit towards the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def main(argv: list[str]) -> int:
    """Load N copies, say ``ready``, hold them until stdin closes."""
    path, count = Path(argv[0]), int(argv[1])
    raise_fd_limit(count * 8 + 64)
    objects = [LoadedObject(path) for _ in range(count)]
    print("ready", os.getpid(), flush=True)
    sys.stdin.read()
    for obj in objects:
        obj.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
