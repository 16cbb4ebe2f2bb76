"""A cache of parsed binaries keyed by (device, inode, mtime), with debug-file lookup.

The same library is mapped by hundreds of processes, so symbols are read
once per file identity, not per process or path. A rebuilt or upgraded file
gets a new inode or mtime and thus a new entry; failures are cached too, so
an unreadable file costs one attempt.

Stripped distribution binaries keep only ``.dynsym``; when the debug package
is installed, the full ``.symtab`` is found the way gdb finds it: by build id
under ``/usr/lib/debug/.build-id/``, then by ``.gnu_debuglink`` next to the
binary, in its ``.debug/`` and under ``/usr/lib/debug/``; inside the
process's root first, for containers. A debuglink is a file name chosen by
whoever built the binary: names with a directory part are refused, every
candidate is opened without following links (``safeopen``), and a file found
by debuglink must match its CRC32, as gdb requires.
"""

from __future__ import annotations

import os
import zlib
from collections import OrderedDict
from pathlib import Path

from bpftop.symbols import safeopen
from bpftop.symbols.elf import ElfError, ElfSymbols
from bpftop.symbols.procmaps import stat_key

DEBUG_ROOT = "usr/lib/debug"
MAX_DEBUG_FILE_BYTES = 2 << 30  # a debuglink's CRC covers the whole file: ~1 s per GB


class Binary:
    """One ELF file's symbols, with those of its separate debug file if found."""

    def __init__(self, elf: ElfSymbols, debug: ElfSymbols | None = None) -> None:
        self.elf = elf
        self.debug = debug
        if debug is None:
            self.lookup = elf.lookup  # type: ignore[method-assign]  # the hot path: one call less

    def capped(self) -> list[str]:
        """What the ELF caps left unread in the binary and its debug file."""
        return self.elf.capped + ([f"debug file: {c}" for c in self.debug.capped] if self.debug else [])

    def names_cut(self) -> int:
        """Symbol names cut at ``symtab.MAX_NAME_BYTES`` so far (counted as lookups decode them)."""
        return sum(e.names_cut() for e in (self.elf, self.debug) if e is not None)

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


def debuglink_name_ok(name: str) -> bool:
    """A debuglink is a file name (gdb's rule): no directory part, nothing that climbs out.

    A name like ``/etc/shadow`` or ``../../etc/shadow`` once made root open that file.
    """
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


def _debug_candidates(elf: ElfSymbols, path_in_root: str) -> list[tuple[str, bool]]:
    """(path inside a root, found by debuglink) of each place a debug file may be, as gdb looks."""
    out = []
    if len(elf.build_id) > 2:  # hex of the file's own bytes: a safe name
        out.append((f"{DEBUG_ROOT}/.build-id/{elf.build_id[:2]}/{elf.build_id[2:]}.debug", False))
    if elf.debuglink and debuglink_name_ok(elf.debuglink):
        folder = os.path.dirname(path_in_root).strip("/")
        folder = folder + "/" if folder else ""
        out += [(f"{folder}{elf.debuglink}", True), (f"{folder}.debug/{elf.debuglink}", True),
                (f"{DEBUG_ROOT}/{folder}{elf.debuglink}", True)]
    return out


def _crc32(fd: int, size: int) -> int:
    crc, offset = 0, 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        offset += len(chunk)
    return crc


def _open_debug(root: Path, path: str, owners: set[int] | None, crc: int | None) -> ElfSymbols:
    fd = safeopen.open_in_root(root, path)
    try:
        st = safeopen.check_fd(fd, owners, MAX_DEBUG_FILE_BYTES)
        if crc is not None and _crc32(fd, st.st_size) != crc:
            raise ElfError("CRC does not match the debuglink")
        return ElfSymbols.from_fd(fd)
    finally:
        os.close(fd)


def find_debug(elf: ElfSymbols, path_in_root: str, roots: list[Path],
               owners: set[int] | None = None) -> ElfSymbols | None:
    """The separate debug file's symbols, when one matching the build id (or debuglink CRC) exists.

    Args:
        elf: The stripped binary.
        path_in_root: Its path as the process sees it.
        roots: Where to look, in order (the process's root, then ours).
        owners: Uids a debug file may belong to (the binary's and the
            process's user); root's only if world-readable.
    """
    if elf.has_symtab or not (elf.build_id or elf.debuglink):
        return None
    for root in roots:
        for candidate, by_link in _debug_candidates(elf, path_in_root):
            try:
                debug = _open_debug(root, candidate, owners, elf.debuglink_crc if by_link else None)
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

    def get(self, fd: int, st: os.stat_result, path_in_root: str, roots: list[Path],
            owners: set[int] | None = None) -> tuple[Binary | None, str]:
        """The binary of an opened file, parsing it on a miss.

        Args:
            fd: The opened, checked binary.
            st: Its fstat.
            path_in_root: Its path as the process sees it (for debug files and messages).
            roots: Where to look for debug files.
            owners: See :func:`find_debug`.

        Returns:
            (binary or None, why it could not be read: "" on success).
        """
        key = stat_key(st)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key], ""
        why = ""
        binary: Binary | None = None
        self.loads += 1
        try:
            elf = ElfSymbols.from_fd(fd)
            binary = Binary(elf, find_debug(elf, path_in_root, roots, owners))
        except ElfError as exc:
            why = f"{path_in_root}: {exc}"
        except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
            why = f"{path_in_root}: {getattr(exc, 'strerror', None) or exc}"
        self._entries[key] = binary
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return binary, why

    def binaries(self) -> list[Binary]:
        """The binaries cached now (for the cap counts in notes)."""
        return [b for b in self._entries.values() if b is not None]
