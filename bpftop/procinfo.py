"""Process metadata (name, user, command line) from psutil, cached.

The one place bpftop reads ``/proc`` for process details. Entries are kept by
(pid, start time) so a recycled pid is not mistaken for the old process, and a
process that exits keeps its last metadata, marked ``exited``, for a while:
``EXITED_TTL_S``, and at most ``MAX_EXITED`` processes (oldest dropped first).
An exited process is shown in one frame, then the collectors drop its kernel
entries; its metadata is kept only for the late events that may name it again.
Under churn (200 fork+exec a second) a 60 s time to live held 12,000 of them
and every tick walked them all (issue 23).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable

from bpftop.frame import ProcMeta

EXITED_TTL_S = 10.0
MAX_EXITED = 4096


class ProcInfo:
    """Cached process metadata service; one instance serves every collector."""

    def __init__(self) -> None:
        self._cache: dict[int, ProcMeta] = {}
        self._exited_at: dict[int, float] = {}

    def lookup(self, pids: Iterable[int], comms: dict[int, str] | None = None) -> dict[int, ProcMeta]:
        """Metadata for ``pids``; pids psutil cannot see get the kernel's comm."""
        now = time.monotonic()
        out: dict[int, ProcMeta] = {}
        listed: set[str] | None = None
        for pid in pids:
            meta = self._cache.get(pid)
            kernel_comm = (comms or {}).get(pid, "")
            if meta is not None and kernel_comm and not meta.name.startswith(kernel_comm[:15]):
                meta = None  # the pid was reused, or the process exec'd: read it again
            if meta is not None and not meta.exited:
                if listed is None:
                    listed = _listed()
                if str(pid) not in listed and not _alive(pid):
                    meta = ProcMeta(**{**meta.__dict__, "exited": True})
                    self._cache[pid] = meta
                    self._exited(pid, now)
            if meta is None:
                meta = _read(pid) or ProcMeta(pid=pid, name=(comms or {}).get(pid, ""), exited=True)
                self._cache[pid] = meta
                if meta.exited:
                    self._exited(pid, now)
            out[pid] = meta
        # Oldest first (insertion order is time order): stop at the first one
        # to keep, so a tick costs what expired, not what is kept.
        exited_at = self._exited_at
        while exited_at:
            pid, when = next(iter(exited_at.items()))
            if now - when <= EXITED_TTL_S and len(exited_at) <= MAX_EXITED:
                break
            del exited_at[pid]
            self._cache.pop(pid, None)
        return out

    def _exited(self, pid: int, now: float) -> None:
        self._exited_at.pop(pid, None)  # to the end: the order stays by time
        self._exited_at[pid] = now


def _listed() -> set[str]:
    # One getdents of /proc per tick instead of a stat per process: 5x cheaper
    # with 300 processes. Only thread-group leaders are listed, so a pid missing
    # here is checked with _alive before it is called exited.
    try:
        return set(os.listdir("/proc"))
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    # One stat per process per tick; psutil would parse /proc/PID/stat (20x slower).
    # A reused pid is caught by its comm differing from the kernel's (see lookup).
    return os.path.exists(f"/proc/{pid}")


def _read(pid: int) -> ProcMeta | None:
    import psutil  # here, in the sampling thread: ~30 ms of the first frame otherwise

    try:
        p = psutil.Process(pid)
        with p.oneshot():
            name = p.name()
            try:
                user = p.username()
            except (KeyError, psutil.Error):  # uid without a passwd entry
                user = str(p.uids().real)
            try:
                cmdline = " ".join(p.cmdline())
            except psutil.Error:
                cmdline = ""
            return ProcMeta(
                pid=pid,
                ppid=p.ppid(),
                user=user,
                name=name,
                cmdline=cmdline or f"[{name}]",
                start_time=p.create_time(),
                cgroup=(cgroup := _cgroup(pid)),
                container=container_of(cgroup),
            )
    except psutil.Error:
        return None


def _cgroup(pid: int) -> str:
    # The "0::PATH" line is the cgroup v2 (unified) path; on a v1-only host
    # (pre-systemd-247 distributions) take the name=systemd or first line.
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    paths = [line.split(":", 2) for line in lines if line.count(":") >= 2]
    unified = next((p for _, c, p in paths if c == ""), None)
    return unified or next((p for _, c, p in paths if c == "name=systemd"), paths[0][2] if paths else "")


# Container runtimes' cgroup names: systemd driver (docker-ID.scope,
# cri-containerd-ID.scope, crio-ID.scope, libpod-ID.scope) and cgroupfs driver (/docker/ID).
_CONTAINER_ID = re.compile(r"(?:^|/)(docker|cri-containerd|crio|libpod|containerd)[-/]([0-9a-f]{12,})")
_MACHINE = re.compile(r"(?:^|/)(?:machine-|lxc\.payload\.|lxc/)([^/]+?)(?:\.scope)?(?:/|$)")


def container_of(cgroup: str) -> str:
    """The container a cgroup path belongs to: ``docker 3f2a9c1b7d4e``, ``k8s crio 0a1b…``; "" if none."""
    match = _CONTAINER_ID.search(cgroup)
    if match is not None:
        runtime = "podman" if match.group(1) == "libpod" else match.group(1)
        return f"{'k8s ' if 'kubepods' in cgroup else ''}{runtime} {match.group(2)[:12]}"
    match = _MACHINE.search(cgroup)
    if match is not None:
        return f"machine {match.group(1)}"
    return "k8s pod" if "kubepods" in cgroup else ""
