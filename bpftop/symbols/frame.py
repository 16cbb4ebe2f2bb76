"""The symbolized stack frame every lookup returns."""

from __future__ import annotations

import os
from dataclasses import dataclass

KIND_KERNEL = "kernel"
KIND_USER = "user"
KIND_JIT = "jit"
KIND_UNKNOWN = "unknown"
KIND_PENDING = "pending"  # its file's symbols are still loading: named on a later call
UNKNOWN_MODULE = "[unknown]"


@dataclass(frozen=True)
class Frame:
    """One symbolized stack frame.

    Attributes:
        name: Demangled function name; "" when unknown.
        module: "[kernel]", "[bpf]", "[<kmod>]", "[unknown]", the path of the
            binary or library as the process sees it, or the path of the perf
            map for JIT frames.
        offset: Offset from the function start; when ``name`` is "", the offset
            in the module (the ELF virtual address that ``addr2line -e`` takes
            when the file could be read, else the file offset; the address
            itself for "[unknown]" and unknown kernel frames).
        kind: "kernel" | "user" | "jit" | "unknown" | "pending" (like
            unknown, but the symbols may name it later: callers should not
            cache it).
    """

    name: str
    module: str
    offset: int
    kind: str

    def label(self) -> str:
        """The name, or ``basename(module)+0xOFFSET`` when the name is unknown."""
        if self.name:
            return self.name
        return f"{os.path.basename(self.module) or self.module}+0x{self.offset:x}"


def unknown(module: str, offset: int) -> Frame:
    """An unnamed frame: module+offset, never dropped."""
    return Frame("", module, offset, KIND_UNKNOWN)
