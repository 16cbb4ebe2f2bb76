"""Opening files a monitored process controls, as root, without being led astray.

A process's perf map, its binaries seen through ``/proc/PID/root`` and the
debug files next to them live in directories the process (or its user) may
write. Root must not follow a symlink it planted (``/tmp/perf-N.map ->
/etc/shadow``, also inside a private mount namespace, where the link's target
resolves in the *host's* root when read through ``/proc/PID/root``), nor block
in ``open()`` on a FIFO, nor read a device. So, as perf and the OpenTelemetry
profiler do:

* the path is resolved inside the process's root with ``openat2(2)``
  ``RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`` (Linux 5.6);
  where the kernel lacks it, component by component with ``O_NOFOLLOW``,
  refusing ``..``;
* always ``O_NONBLOCK`` (a FIFO opens at once instead of waiting for a
  writer), ``O_NOFOLLOW`` and ``O_CLOEXEC``;
* every check runs on ``fstat`` of the opened descriptor, never on a
  ``stat`` of the path before opening it (the path can change in between).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from pathlib import Path

_SYS_OPENAT2 = 437  # the same number on every architecture (the unified syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_IN_ROOT = 0x10
_RESOLVE = _RESOLVE_IN_ROOT | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


class UnsafeFileError(OSError):
    """The file opened but is not one bpftop reads (not regular, wrong owner, too big)."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
# None: not probed yet; False: the kernel has no openat2 (ENOSYS, or seccomp says so).
_have_openat2: bool | None = None


def _openat2(dir_fd: int, path: str) -> int:
    how = _OpenHow(OPEN_FLAGS, 0, _RESOLVE)
    fd = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), ctypes.c_char_p(os.fsencode(path)),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def _walk(dir_fd: int, parts: list[str]) -> int:
    """The fallback: one component at a time, each opened with ``O_NOFOLLOW``.

    Absolute symlinks and ``..`` could step out of the root; refusing every
    symlink (as RESOLVE_NO_SYMLINKS does) and ``..`` keeps the walk inside.
    """
    fd = os.dup(dir_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], OPEN_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def open_in_root(root: str | Path, path: str) -> int:
    """Opens ``path`` as seen from directory ``root`` (e.g. ``/proc/PID/root``), following no link.

    Returns:
        A read-only, non-blocking descriptor; the caller checks it with :func:`check_fd`.

    Raises:
        OSError: missing, a symlink on the way (ELOOP), ``..`` in the path, ...
    """
    global _have_openat2
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise OSError(errno.EISDIR, "is the root directory", path)
    if ".." in parts:
        raise OSError(errno.EPERM, "'..' in the path", path)
    # The root itself may be a magic link (/proc/PID/root): opening it is how one gets there.
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _have_openat2 is not False:
            try:
                fd = _openat2(root_fd, "/".join(parts))
                _have_openat2 = True
                return fd
            except OSError as exc:
                # ENOSYS: before 5.6; EPERM from a seccomp filter that does not know it.
                if _have_openat2 or exc.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                _have_openat2 = False
        return _walk(root_fd, parts)
    finally:
        os.close(root_fd)


def open_direct(path: str | Path) -> int:
    """Opens a kernel-made link such as ``/proc/PID/map_files/A-B``, which must be followed.

    Still non-blocking, so whatever it leads to cannot hold ``open()``.
    """
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def check_fd(fd: int, owners: set[int] | None = None, max_bytes: int | None = None) -> os.stat_result:
    """``fstat`` of an opened file, refused unless regular, owned by one of ``owners``, small enough.

    A root-owned file passes the owner check only when everyone may read it:
    in its own user and mount namespace an unprivileged user can bind-mount a
    root-only host file (owned by root, no link anywhere) where bpftop looks.

    Raises:
        UnsafeFileError: with a one-line reason (``strerror``) the caller prefixes with the file.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(errno.EINVAL, "not a regular file")
    public_root_file = st.st_uid == 0 and st.st_mode & stat.S_IROTH
    if owners is not None and st.st_uid not in owners and not public_root_file:
        raise UnsafeFileError(errno.EPERM, f"owned by uid {st.st_uid}, not by the process's user")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UnsafeFileError(errno.EFBIG, f"over {max_bytes >> 20} MB")
    return st


def read_capped(fd: int, max_bytes: int) -> bytes | None:
    """All of a file from its start, or None when it holds more than ``max_bytes`` (it may grow)."""
    chunks: list[bytes] = []
    total = 0
    offset = 0
    while True:
        chunk = os.pread(fd, min(1 << 20, max_bytes + 1 - total), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        offset += len(chunk)
        if total > max_bytes:
            return None


def reason(exc: OSError) -> str:
    """One line saying why a file was not read, in the words a user knows."""
    if exc.errno == errno.ELOOP:  # RESOLVE_NO_SYMLINKS / O_NOFOLLOW refused a link
        return "a symbolic link (or one on its path): not followed"
    return exc.strerror or str(exc)
