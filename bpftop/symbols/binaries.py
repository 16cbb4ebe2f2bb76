"""A cache of parsed binaries keyed by (device, inode, mtime), with debug-file lookup.

The same library is mapped by hundreds of processes, so symbols are read
once per file identity, not per process or path. A rebuilt or upgraded file
gets a new inode or mtime and thus a new entry; failures are cached too, so
an unreadable file costs one attempt.

Stripped distribution binaries keep only ``.dynsym``; when the debug package
is installed, the full ``.symtab`` is found the way gdb finds it: by build id
under ``/usr/lib/debug/.build-id/``, then by ``.gnu_debuglink`` next to the
binary, in its ``.debug/`` and under ``/usr/lib/debug/``; inside the
process's root first, for containers.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from bpftop.symbols.elf import ElfError, ElfSymbols

DEBUG_ROOT = "usr/lib/debug"


class Binary:
    """One ELF file's symbols, with those of its separate debug file if found."""

    def __init__(self, elf: ElfSymbols, debug: ElfSymbols | None = None) -> None:
        self.elf = elf
        self.debug = debug
        if debug is None:
            self.lookup = elf.lookup  # type: ignore[method-assign]  # the hot path: one call less

    def vaddr_of(self, file_offset: int) -> int | None:
        """The link-time virtual address of a file offset (None outside PT_LOAD)."""
        return self.elf.vaddr_of(file_offset)

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """(name, offset) of a virtual address from the richest symbol table."""
        if self.debug is not None:
            hit = self.debug.lookup(vaddr)
            if hit is not None:
                return hit
        return self.elf.lookup(vaddr)


def _debug_candidates(elf: ElfSymbols, path_in_root: str, roots: list[Path]) -> list[Path]:
    out = []
    for root in roots:
        if len(elf.build_id) > 2:
            out.append(root / DEBUG_ROOT / ".build-id" / elf.build_id[:2] / f"{elf.build_id[2:]}.debug")
        if elf.debuglink:
            folder = os.path.dirname(path_in_root).lstrip("/")
            out += [root / folder / elf.debuglink, root / folder / ".debug" / elf.debuglink,
                    root / DEBUG_ROOT / folder / elf.debuglink]
    return out


def find_debug(elf: ElfSymbols, path_in_root: str, roots: list[Path]) -> ElfSymbols | None:
    """The separate debug file's symbols, when one matching the build id exists."""
    if elf.has_symtab or not (elf.build_id or elf.debuglink):
        return None
    for candidate in _debug_candidates(elf, path_in_root, roots):
        try:
            debug = ElfSymbols.from_path(candidate)
        except (OSError, ElfError):
            continue
        # A debuglink names a file, not a build: refuse one from another build.
        if len(debug) and (not elf.build_id or debug.build_id == elf.build_id):
            return debug
    return None


class BinaryCache:
    """Parsed binaries by (device, inode, mtime); a bounded LRU.

    Args:
        max_entries: How many binaries to keep (their string tables stay in memory).
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, int, int], Binary | None] = OrderedDict()
        self.loads = 0  # files parsed, for tests and benchmarks

    def get(self, key: tuple[int, int, int], open_path: Path, path_in_root: str,
            roots: list[Path]) -> tuple[Binary | None, str]:
        """The binary with this identity, parsing ``open_path`` on a miss.

        Returns:
            (binary or None, why it could not be read: "" on success).
        """
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key], ""
        why = ""
        binary: Binary | None = None
        self.loads += 1
        try:
            elf = ElfSymbols.from_path(open_path)
            binary = Binary(elf, find_debug(elf, path_in_root, roots))
        except ElfError as exc:
            why = f"{path_in_root}: {exc}"
        except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
            why = f"{path_in_root}: {getattr(exc, 'strerror', None) or exc}"
        self._entries[key] = binary
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return binary, why
