"""The process screen's model (one process across every view) and its identity data, table-driven."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from bpftop.derive import Derived, derive
from bpftop.frame import ProcMeta
from bpftop.panes.process import identity_text
from bpftop.panes.process_model import ProcessData, follow
from bpftop.panes.process_sections import overview_text
from bpftop.procinfo import _cgroup, container_of
from bpftop.record.reader import Recording
from tests.fakes_all import COLLECTORS, AllCollectorsSource
from tests.test_record_compat import FIXTURE


def frames(source: AllCollectorsSource, count: int) -> list[Derived]:
    """``count`` more derived frames, each against the source's previous one."""
    out = []
    for _ in range(count):
        prev, cur = getattr(source, "last_frame", None), source.tick()
        out.append(derive(prev, cur))
        source.last_frame = cur  # type: ignore[attr-defined]
    return out


def test_follow_picks_the_process_out_of_every_view() -> None:
    source = AllCollectorsSource()
    data = None
    for derived in frames(source, 3):
        data = follow(data, 100, derived)
    assert data is not None and not data.exited and data.seen == {"syscalls", *COLLECTORS}
    assert [r.name for r in data.syscalls] == ["read", "write"]
    assert data.sched is not None and data.sched.cpu_pct == pytest.approx(20.0)
    assert {(r.disk, r.op) for r in data.disk} == {("vda", "read"), ("vda", "write")}
    assert [c.id for c in data.conns] == [1, 2] and [c.lport for c in data.closed] == [443]
    assert data.pmc is not None and data.pmc.figures[0].per_s == pytest.approx(200_000_000)
    assert {r.frames[-1] for r in data.cpu_stacks} == {"epoll_wait", "ngx_http_handler"}
    assert data.last_wall == source.tick().wall - 1  # the frame before this tick
    other = follow(data, 200, derive(None, source.tick()))  # another pid starts afresh
    assert other.pid == 200 and [c.id for c in other.conns] == [3]


def test_a_running_process_shows_the_current_frame_only() -> None:
    source = AllCollectorsSource()
    first, second = frames(source, 2)
    data = follow(None, 100, first)
    assert len(data.conns) == 2
    tcp = second.views["tcp"]
    no_conns = replace(second, views={**second.views, "tcp": replace(tcp, conns=())})
    assert follow(data, 100, no_conns).conns == ()  # closed while it runs: gone


def test_an_exited_process_keeps_its_last_data() -> None:
    source = AllCollectorsSource()
    data = None
    for derived in frames(source, 3):
        data = follow(data, 100, derived)
    assert data is not None
    before = data
    source.kill(100)
    for derived in frames(source, 5):  # exited for two ticks, then gone from the frames
        data = follow(data, 100, derived)
    assert data.exited and data.meta is not None and data.meta.name == "nginx"
    assert data.last_wall == before.last_wall  # the frames after the kill say it exited
    assert data.sched == before.sched and data.conns == before.conns and data.pmc is not None
    assert [r.name for r in data.syscalls] == ["read", "write"] and data.disk and data.cpu_stacks
    text = overview_text(data, derived).plain
    assert "20.0% on-CPU" in text and "2 conns" in text and "no " not in text.replace("no stacks", "")


def test_a_pid_never_seen() -> None:
    derived = frames(AllCollectorsSource(), 2)[1]
    data = follow(ProcessData(pid=999), 999, derived)
    assert data.exited and data.meta is None and data.seen == frozenset() and data.sched is None
    assert "PID 999  PPID ?  USER ?  STARTED ?  STATE exited" in identity_text(999, None, True).plain
    assert "CPU      no scheduling seen" in overview_text(data, derived).plain


@pytest.mark.parametrize(
    ("cgroup", "container"),
    [
        ("/system.slice/docker-3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6.scope", "docker 3f2a9c1b7d4e"),
        ("/docker/3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6", "docker 3f2a9c1b7d4e"),
        ("/machine.slice/libpod-0123456789abcdef0123.scope/container", "podman 0123456789ab"),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/"
            "cri-containerd-abcdef0123456789abcdef.scope",
            "k8s cri-containerd abcdef012345",
        ),
        ("/kubepods/besteffort/pod1a2b/crio-00112233445566778899.scope", "k8s crio 001122334455"),
        ("/machine.slice/machine-web.scope", "machine web"),
        ("/lxc.payload.c1/init.scope", "machine c1"),
        ("/user.slice/user-0.slice/session-1.scope", ""),
        ("/", ""),
        ("", ""),
    ],
)
def test_container_of(cgroup: str, container: str) -> None:
    assert container_of(cgroup) == container


def test_cgroup_of_this_process() -> None:
    path = _cgroup(os.getpid())
    assert path.startswith("/")
    assert _cgroup(2**22 + 1) == ""  # above pid_max: no such process


def test_a_recording_without_cgroups_still_loads() -> None:
    """Frames recorded before ProcMeta had cgroup/container get their defaults."""
    recording = Recording(FIXTURE)
    try:
        frame = recording.frame(len(recording.entries) - 1)
    finally:
        recording.close()
    meta = next(iter(frame.procs.values()))
    assert isinstance(meta, ProcMeta) and meta.cgroup == "" and meta.container == ""
    assert "CGROUP ?" in identity_text(meta.pid, meta, False).plain
