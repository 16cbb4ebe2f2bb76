"""Create the files bpftop writes (recordings, profiles) safely, as root, in directories others can write.

Before root runs ``bpftop record /tmp/x`` or ``bpftop profile -o /tmp/x``,
any user may have planted at that path a symbolic link (to ``/etc/shadow``,
or a dangling one to where a new root-owned file would do harm), a file of
their own that would then receive what root writes, a FIFO that blocks the
open until someone reads it, or a hard link. So, as perf does for its output:

- a new file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (no link is
  followed, nothing existing is touched), then given ``mode`` (0600 unless
  asked otherwise: a recording or profile names what every process ran);
- an existing file is replaced only with ``force``, and is opened without
  ``O_CREAT`` or ``O_TRUNC`` (``O_NOFOLLOW | O_NONBLOCK``, so neither a link
  nor a FIFO can act), then judged on the opened fd: a regular file, one
  link, owned by us (or by the ``sudo`` user it would be given to), and only
  then truncated. Nothing is decided on a path that could change in between.

``sudo bpftop ...``: the file is given to the invoking user (``SUDO_UID``),
who may then read it without root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat

DEFAULT_MODE = 0o600

# No O_TRUNC in either: truncation waits until the fd has passed the checks.
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_EXISTING = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class OutputFileError(Exception):
    """The file cannot be created or replaced; the message is one line for the user."""


def parse_mode(text: str) -> int:
    """``--mode``: octal permission bits, ``600`` or ``0o644``; no set-id or sticky bits.

    Raises:
        ValueError: anything else (argparse reports it as a bad value).
    """
    mode = int(text.strip().removeprefix("0o"), 8)
    if not 0 <= mode <= 0o777:
        raise ValueError(text)
    return mode


def _sudo_owner() -> tuple[int, int] | None:
    """The uid and gid of whoever ran ``sudo bpftop``, when root runs it that way."""
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if os.geteuid() == 0 and uid.isdigit() and gid.isdigit():
        return int(uid), int(gid)
    return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return "?"


def _refusal(path: str, st: os.stat_result) -> str:
    """Why an existing file must not be written into, or an empty string."""
    if not stat.S_ISREG(st.st_mode):
        return f"cannot overwrite {path}: not a regular file"
    sudo = _sudo_owner()
    ours = {os.geteuid(), *((sudo[0],) if sudo else ())}
    if st.st_uid not in ours:
        return f"cannot overwrite {path}: owned by uid {st.st_uid} ({_user_name(st.st_uid)}), not by us"
    if st.st_nlink != 1:  # a hard link to a file elsewhere (perhaps one we would never overwrite)
        return f"cannot overwrite {path}: it has {st.st_nlink} hard links"
    return ""


def _describe(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return f"cannot create {path}: it is a symbolic link (not followed)"
    if exc.errno in (errno.ENXIO, errno.EWOULDBLOCK):  # a FIFO nobody reads, a socket
        return f"cannot overwrite {path}: not a regular file"
    return f"cannot create {path}: {exc.strerror}"


def _open_existing(path: str) -> int:
    try:
        fd = os.open(path, _EXISTING)
    except OSError as exc:
        raise OutputFileError(_describe(path, exc)) from None
    try:
        refusal = _refusal(path, os.fstat(fd))
        if refusal:
            raise OutputFileError(refusal)
        os.ftruncate(fd, 0)
    except OSError as exc:
        os.close(fd)
        raise OutputFileError(f"cannot overwrite {path}: {exc.strerror}") from None
    except OutputFileError:
        os.close(fd)
        raise
    return fd


def create_output(path: str, *, force: bool = False, mode: int = DEFAULT_MODE) -> int:
    """A write-only fd on a new (or, with ``force``, emptied) regular file at ``path``.

    Args:
        path: where the user asked the output to go.
        force: replace an existing file (only a regular one of ours).
        mode: the file's permission bits, whatever the umask.

    Raises:
        OutputFileError: with the one-line reason.
    """
    try:
        fd = os.open(path, _NEW, mode)
    except FileExistsError:
        # O_EXCL also refuses a symbolic link, even a dangling one: say which it was.
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise OutputFileError(f"cannot create {path}: it is a symbolic link (not followed)") from None
        if not force:
            raise OutputFileError(f"{path} exists; add --force to overwrite it") from None
        fd = _open_existing(path)
    except OSError as exc:
        raise OutputFileError(_describe(path, exc)) from None
    with contextlib.suppress(OSError):  # best effort: the file is ours and private already
        os.fchmod(fd, mode)  # the umask, or an existing file's mode, would decide otherwise
        owner = _sudo_owner()
        if owner is not None:
            os.fchown(fd, *owner)
    return fd
