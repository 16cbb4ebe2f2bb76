"""Load a BPF iterator object and read its output in one go, as many times as needed.

An iterator program (``SEC("iter/...")``) runs when its seq_file is read: each
``read_all`` makes a new iterator instance from the link (``BPF_ITER_CREATE``)
and reads it to the end. Used by the bpf pane to find the owners of programs
and maps (``c/bpfstats.bpf.c``), and by the tcp collector to find the owners
of accepted connections (``c/tcp_owner.bpf.c``), whose iterator writes into the
tcp object's maps: ``maps`` hands it their fds before load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bpftop.bpf import log
from bpftop.bpf._ffi import ffi, lib
from bpftop.bpf.errors import BpfError
from bpftop.bpf.object import object_path, set_rodata

READ_SIZE = 1 << 16


class BpfIterator:
    """One loaded iterator object, attached (an iterator link), not yet run.

    Args:
        name: object stem; the file is ``bpftop/c/<name>.bpf.o`` unless ``path``.
        path: explicit object file (tests).
        rodata: values for its ``const volatile`` globals (filters).
        maps: map name -> fd of a loaded map to use instead of creating one;
            the definitions must match (libbpf checks type, sizes and flags).
    """

    def __init__(
        self,
        name: str,
        path: Path | None = None,
        rodata: dict[str, int] | None = None,
        maps: dict[str, int] | None = None,
    ) -> None:
        lib_ = lib()
        path = path or object_path(name)
        if not path.exists():
            raise BpfError(f"{path} is missing: reinstall bpftop or run `make build-bpf`", 2)
        self._link: Any = None
        log.clear()
        self._obj = lib_.bpf_object__open_file(str(path).encode(), ffi.NULL)
        if self._obj == ffi.NULL:
            self._obj = None
            raise BpfError(f"open {path.name}", ffi.errno, log.take_recent())
        try:
            for map_name, fd in (maps or {}).items():
                handle = lib_.bpf_object__find_map_by_name(self._obj, map_name.encode())
                err = lib_.bpf_map__reuse_fd(handle, fd) if handle != ffi.NULL else -2
                if err:
                    raise BpfError(f"{path.name}: share map {map_name}", err, log.take_recent())
            set_rodata(self._obj, rodata or {}, name)
            err = lib_.bpf_object__load(self._obj)
            if err:
                raise BpfError(f"load {path.name}", err, log.take_recent(), log.take_load_logs())
            prog = lib_.bpf_object__next_program(self._obj, ffi.NULL)
            link = lib_.bpf_program__attach(prog)
            if link == ffi.NULL:
                raise BpfError(f"attach the {name} iterator", ffi.errno, log.take_recent())
            self._link = link
        except BaseException:
            self.close()
            raise

    def read_all(self) -> bytes:
        """Run the iterator once and return everything it wrote."""
        fd = int(lib().bpf_iter_create(lib().bpf_link__fd(self._link)))
        if fd < 0:
            raise BpfError("create iterator", -fd)
        chunks = []
        try:
            while chunk := os.read(fd, READ_SIZE):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)

    def close(self) -> None:
        """Destroy the link and free the object; safe to call twice."""
        lib_ = lib()
        if self._link is not None:
            lib_.bpf_link__destroy(self._link)
            self._link = None
        if self._obj is not None:
            lib_.bpf_object__close(self._obj)
            self._obj = None
