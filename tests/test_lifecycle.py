"""bpftop leaves nothing loaded, whatever ends it; LRU evictions are counted (root)."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from exit_harness import start_batch

ROOT = Path(__file__).resolve().parent.parent
BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def _prog_ids() -> set[int]:
    if not Path(BPFTOOL).exists():
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail("bpftool is not installed; CI must install it")
        pytest.skip("bpftool not installed")
    out = subprocess.run([BPFTOOL, "prog", "show", "-j"], capture_output=True, text=True, check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")}


@pytest.mark.kernel_independent
@pytest.mark.bpf
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_programs_are_gone_after_signal(sig):
    before = _prog_ids()
    proc = start_batch()
    ours = _prog_ids() - before
    assert ours
    proc.send_signal(sig)
    proc.wait(timeout=5)  # raises if bpftop hangs
    # fd-based links: the kernel frees them as the last fd closes, even after SIGKILL
    deadline = time.monotonic() + 3
    while ours & _prog_ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ours & _prog_ids()
    if sig != signal.SIGKILL:
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()


@pytest.mark.kernel_independent
@pytest.mark.bpf
def test_lru_evictions_are_counted():
    from bpftop.collectors.base import Filters
    from bpftop.collectors.syscalls import DEFS, SyscallsCollector

    collector = SyscallsCollector()
    collector.open(Filters())
    try:
        # Thousands of short processes, each making a few dozen distinct syscalls,
        # create more (pid, syscall) pairs than the map holds.
        needed = DEFS["SYSCALLS_MAX_PROCS"] * 2
        spawned = 0
        while True:
            subprocess.run(["sh", "-c", "for i in $(seq 200); do /bin/true; done"], check=True)
            spawned += 200
            s = collector.sample()
            if s.evicted_procs or spawned > needed:
                break
        assert s.evicted_procs > 0
        assert len(s.procs) <= DEFS["SYSCALLS_MAX_PROCS"]
        assert s.lost_procs == 0
    finally:
        collector.close()


@pytest.mark.bpf
def test_exited_processes_are_shown_once_then_forgotten():
    from bpftop.collectors.base import Filters
    from bpftop.engine import Engine

    engine = Engine(["syscalls"], Filters())
    engine.open()
    try:
        engine.tick()
        child = subprocess.Popen(["/bin/true"])
        child.wait()
        shown = engine.tick()  # the child's last counts, marked exited
        assert shown.procs[child.pid].exited
        assert any(p.pid == child.pid for p in shown.samples["syscalls"].procs)
        later = engine.tick()
        assert not any(p.pid == child.pid for p in later.samples["syscalls"].procs)
        assert later.samples["syscalls"].evicted_procs == 0  # deleted by bpftop, not evicted
    finally:
        engine.close()
