"""profile.bpf.o and offcpu.bpf.o against real workloads (root).

The CPU workload is a PIE binary built here with frame pointers: per loop it
spins 3 units of its own CPU time in ``spin_hot`` and 1 in ``spin_cold`` (a
unit of random length, about 1 ms), which spends it in ``lib_spin`` of a
shared library also built here. So
``spin_hot`` must hold about 75% of its samples, ``spin_cold`` 25%, and
``lib_spin`` must be named (a library's load bias), as must the functions of
the PIE executable (the executable's bias).
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import scaled

from bpftop.collectors.base import Filters
from bpftop.collectors.stacks import StackCount, StacksCollector, StacksSample
from tests import workloads
from tests.workloads import up_to_three_runs

pytestmark = pytest.mark.bpf

SPIN_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void lib_spin(long n);
static volatile unsigned long sink;

static double cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * Short chunks (~5 us here, ~50 us under qemu's emulation): each spin
 * overshoots its unit by up to one chunk, which must stay small against
 * the shortest unit (0.25 ms) on a slow machine too.
 */
__attribute__((noinline)) void spin_hot(double ms)
{
	double end = cpu_ms() + ms;

	while (cpu_ms() < end)
		for (long i = 0; i < 10000; i++)
			sink += i;
}

__attribute__((noinline)) void spin_cold(double ms)
{
	double end = cpu_ms() + ms;

	while (cpu_ms() < end)
		lib_spin(10000);
}

int main(int argc, char **argv)
{
	double end;

	printf("ready\n");
	fflush(stdout);
	if (getchar() < 0)
		return 3;
	end = cpu_ms() + atof(argv[1]) * 1000;
	/* Random lengths, 3:1 on average (a fixed 4 ms cycle beats against the sampling period). */
	srand(1);
	while (cpu_ms() < end) {
		double unit = 0.25 + 1.5 * rand() / RAND_MAX;

		spin_hot(3 * unit);
		spin_cold(unit);
	}
	printf("done 0\n");
	fflush(stdout);
	getchar();
	return 0;
}
"""
LIB_SOURCE = r"""
static volatile unsigned long lib_sink;

__attribute__((noinline)) void lib_spin(long n)
{
	for (long i = 0; i < n; i++)
		lib_sink += i;
}
"""
FP = ("-O1", "-fno-omit-frame-pointer", "-fno-inline", "-g0")
SPIN_CPU_S = 2.5
FREQ_HZ = 499  # more samples than the default 49 Hz, for tight shares in a short test


def build_spin(out_dir: Path | None = None) -> Path:
    """Build libspinlib.so and the PIE spin program next to it; return the program."""
    # compile_c caches by source only: the flags go into the source as a comment.
    # -O0: gcc 12 drops the frame pointer of a leaf function that needs no
    # stack even with -mno-omit-leaf-frame-pointer, and lib_spin is such a leaf.
    lib_flags = ("-O0", "-fno-omit-frame-pointer", "-g0", "-shared", "-fPIC")
    lib = workloads.compile_c(f"{LIB_SOURCE}/* {' '.join(lib_flags)} */\n", "libspinlib", lib_flags, out_dir)
    # The program links the library under its fixed name, found through $ORIGIN.
    fixed = lib.with_name("libspinlib.so")
    if not fixed.exists() or fixed.read_bytes() != lib.read_bytes():
        fixed.write_bytes(lib.read_bytes())
    flags = (*FP, "-fPIE", "-pie", f"-L{fixed.parent}", "-lspinlib", "-Wl,-rpath,$ORIGIN")
    return _compile_linked(SPIN_SOURCE, "spin_pie", flags, fixed.parent)


def _compile_linked(source: str, stem: str, flags: tuple[str, ...], out_dir: Path) -> Path:
    import hashlib

    exe = out_dir / f"{stem}-{hashlib.sha256((source + ' '.join(flags)).encode()).hexdigest()[:12]}"
    if exe.exists():
        return exe
    src = exe.with_suffix(".c")
    src.write_text(source)
    tmp = exe.with_suffix(f".{id(exe)}.tmp")
    proc = subprocess.run(
        ["gcc", str(src), "-o", str(tmp), *flags], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"compiling {stem} failed:\n{proc.stderr}")
    tmp.chmod(0o755)
    tmp.replace(exe)
    return exe



def run_profile(args: list[str], workload: workloads.Workload) -> subprocess.CompletedProcess[str]:
    """Run `bpftop profile ARGS`, starting ``workload`` once its sampling window opens.

    Starting the workload first raced the profiler's start-up: under qemu
    without KVM, importing and attaching take ~10 s, and the workload had
    finished before the first sample.
    """
    cmd = [sys.executable, "-m", "bpftop", "profile", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = ""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stderr, selectors.EVENT_READ)
            if sel.select(scaled(30)):
                first = proc.stderr.readline()
        assert "sampling for" in first, f"bpftop profile did not start sampling: {first!r}"
        workload.go()
        out, err = proc.communicate(timeout=scaled(60))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, first + err)


def share(rows: tuple[StackCount, ...], pid: int, name: str, off: bool = False) -> float:
    """Percent of a process's samples (or off-CPU time) under frames called ``name``."""
    mine = [r for r in rows if r.pid == pid]
    total = sum(r.total_ns if off else r.events for r in mine)
    hit = sum(r.total_ns if off else r.events for r in mine if name in r.frames)
    return 100.0 * hit / total if total else 0.0


def diag(sample: StacksSample, pid: int) -> str:
    """The process's heaviest stacks, for assertion messages."""
    rows = sorted((r for r in sample.cpu + sample.off if r.pid == pid), key=lambda r: -r.events)
    lines = [f"{r.events} {r.total_ns} {';'.join(r.frames)}" for r in rows[:12]]
    return f"\ncpu {sample.cpu_losses}\noff {sample.off_losses}\n" + "\n".join(lines)


@pytest.fixture(scope="module")
def spin_exe() -> Path:
    exe = build_spin()
    assert exe.read_bytes()[16] == 3, "not a PIE (ELF e_type ET_DYN)"  # so main proves the load bias
    return exe


def run_spin(exe: Path, collector: StacksCollector) -> tuple[int, StacksSample]:
    """Run the spin program to its end, sampling every second; return its pid and the last sample."""
    proc = subprocess.Popen(
        [str(exe), str(SPIN_CPU_S)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
    )
    wl = workloads.Workload(proc)
    try:
        assert workloads._read_line(proc, 10.0) == "ready"
        wl.go()
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                wl.wait_done(1.0)
                break
            except TimeoutError:
                collector.sample()
        return proc.pid, collector.sample()
    finally:
        wl.finish()


def test_cpu_profile_shares_and_symbols(spin_exe: Path) -> None:
    """spin_hot ~75%, spin_cold ~25% (±10 points); the library and PIE functions are named."""
    collector = StacksCollector(FREQ_HZ, off_cpu=False)
    collector.open(Filters())
    try:
        pid, sample = run_spin(spin_exe, collector)
    finally:
        collector.close()
    assert not sample.cpu_error
    samples = sum(r.events for r in sample.cpu if r.pid == pid)
    assert samples >= SPIN_CPU_S * FREQ_HZ * 0.5, diag(sample, pid)
    hot, cold = share(sample.cpu, pid, "spin_hot"), share(sample.cpu, pid, "spin_cold")
    assert abs(hot - 75) <= 10, diag(sample, pid)
    assert abs(cold - 25) <= 10, diag(sample, pid)
    # The library function sits under spin_cold, and main (PIE) under both.
    assert share(sample.cpu, pid, "lib_spin") > 10, diag(sample, pid)
    lib_rows = [r for r in sample.cpu if r.pid == pid and "lib_spin" in r.frames]
    # A sample on lib_spin's first instructions, before it pushed its frame pointer,
    # skips its caller (frame-pointer unwinding cannot see it): allow a few.
    under_cold = sum(
        r.events
        for r in lib_rows
        if "spin_cold" in r.frames and r.frames.index("spin_cold") < r.frames.index("lib_spin")
    )
    assert under_cold >= 0.9 * sum(r.events for r in lib_rows), diag(sample, pid)
    assert share(sample.cpu, pid, "main") > 90, diag(sample, pid)
    assert all(r.kinds[r.frames.index("spin_hot")] == "u" for r in sample.cpu if "spin_hot" in r.frames)


def test_pid_filter_in_kernel(spin_exe: Path) -> None:
    """With a pid filter, only that process is counted."""
    proc = subprocess.Popen([str(spin_exe), "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    wl = workloads.Workload(proc)
    collector = StacksCollector(FREQ_HZ)
    try:
        assert workloads._read_line(proc, 10.0) == "ready"
        collector.open(Filters(pid=proc.pid))
        wl.go()
        wl.wait_done(30)
        # One read: let it wait for the symbol loads (under emulation the
        # spin binary's took longer than a refresh, and its counts were held
        # back: cpu=() in the 6.12 guest).
        sample = collector.sample(settle=True)
    finally:
        collector.close()
        wl.finish()
    assert sample.cpu and {r.pid for r in sample.cpu} == {proc.pid}
    assert {r.pid for r in sample.off} <= {proc.pid}


@up_to_three_runs
def test_off_cpu_nanosleep_time() -> None:
    """A process sleeping in nanosleep shows that stack with the time it slept (within 10%)."""
    n = 100  # 10 ms each
    collector = StacksCollector(cpu=False)
    with workloads.start("nanosleep", n) as wl:
        collector.open(Filters(pid=wl.pid))
        try:
            wl.go()
            deadline = time.monotonic() + 30
            ns_per_call = 0.0
            while time.monotonic() < deadline:
                try:
                    ns_per_call = wl.wait_done(0.5)
                    break
                except TimeoutError:
                    collector.sample()
            sample = collector.sample()
        finally:
            collector.close()
    slept_ns = ns_per_call * n
    rows = [r for r in sample.off if r.pid == wl.pid and "do_nanosleep" in r.frames]
    blocked_ns = sum(r.total_ns for r in rows)
    assert rows, diag(sample, wl.pid)
    assert abs(blocked_ns - slept_ns) <= 0.10 * slept_ns, f"{blocked_ns} vs {slept_ns}" + diag(sample, wl.pid)
    assert all(r.frames[-1] in ("__schedule", "schedule") or "schedule" in r.frames[-1] for r in rows), diag(
        sample, wl.pid
    )
    # User frames come first: at least libc's syscall() (the workload has no frame pointers).
    assert all("syscall" in r.frames and "u" in r.kinds for r in rows), diag(sample, wl.pid)


def test_bpftop_profile_command_speedscope(spin_exe: Path, tmp_path: Path) -> None:
    """`bpftop profile --pid P --format speedscope -o FILE` writes a valid file with spin_hot in it."""
    jsonschema = pytest.importorskip("jsonschema")
    proc = subprocess.Popen([str(spin_exe), "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    wl = workloads.Workload(proc)
    out = tmp_path / "p.speedscope.json"
    try:
        assert workloads._read_line(proc, scaled(10)) == "ready"
        args = ["--pid", str(proc.pid), "--duration", "2", "--format", "speedscope", "-o", str(out)]
        run = run_profile(args, wl)
    finally:
        wl.finish()
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    schema = json.loads((Path(__file__).parent / "fixtures" / "speedscope-schema.json").read_text())
    jsonschema.validate(doc, schema)
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert {"spin_hot", "main"} <= names, sorted(names)[:40]
    assert "samples" in run.stderr


def test_bpftop_profile_command_off_cpu_folded(tmp_path: Path) -> None:
    """`bpftop profile --off-cpu` writes folded lines a line parser reads, with the sleep's stack."""
    out = tmp_path / "off.folded"
    with workloads.start("nanosleep", 150) as wl:
        run = run_profile(["--off-cpu", "--pid", str(wl.pid), "--duration", "1", "-o", str(out)], wl)
    assert run.returncode == 0, run.stderr
    stacks = {}
    for line in out.read_text().splitlines():
        frames, _, value = line.rpartition(" ")
        stacks[tuple(frames.split(";"))] = int(value)
    sleeping = {k: v for k, v in stacks.items() if "do_nanosleep" in k}
    assert sleeping, stacks
    # About one second of 10 ms sleeps (at least 0.5 s, whatever the machine's load).
    assert 0.5e9 <= sum(sleeping.values()) <= 1.1e9, sleeping
    assert all(k[0].startswith("syscall_loop") for k in sleeping), sleeping  # comm first


def _off_ns(sample: StacksSample, pid: int) -> int:
    return sum(r.total_ns for r in sample.off if r.pid == pid)


def test_off_cpu_is_taken_only_while_stacks_are_on_screen() -> None:
    """Off-CPU stacks pause when another pane is shown, and no block spans the pause."""
    # It says when its loop runs: Python's start-up alone is on CPU for seconds under qemu.
    sleeper_code = "import time\ntime.sleep(0.01)\nprint('ready', flush=True)\nwhile True: time.sleep(0.01)"
    sleeper = subprocess.Popen([sys.executable, "-c", sleeper_code], stdout=subprocess.PIPE, bufsize=0)
    collector = StacksCollector(cpu=False)
    try:
        assert workloads._read_line(sleeper, scaled(10)) == "ready"
        collector.open(Filters(pid=sleeper.pid))
        time.sleep(0.5)
        running = _off_ns(collector.sample(), sleeper.pid)
        assert running > 0.2e9  # taken until told which pane is shown

        collector.set_option("visible_pane", "procs")
        paused_at = _off_ns(collector.sample(), sleeper.pid)
        time.sleep(1.0)
        sample = collector.sample()
        assert sample.off_paused and sample.off_while_shown
        assert _off_ns(sample, sleeper.pid) - paused_at < 0.05e9  # at most a block in flight

        collector.set_option("visible_pane", "stacks")
        resumed = time.monotonic()
        before = _off_ns(collector.sample(), sleeper.pid)
        time.sleep(1.0)
        sample = collector.sample()
        gained = _off_ns(sample, sleeper.pid) - before
        assert not sample.off_paused
        # It sleeps ~all the time: ~1 s more, and never the paused second on top.
        assert 0.5e9 < gained <= (time.monotonic() - resumed) * 1e9 + 0.05e9, gained
    finally:
        collector.close()
        sleeper.kill()
        sleeper.wait()


def _cpu_samples(sample: StacksSample, pid: int) -> int:
    return sum(r.events for r in sample.cpu if r.pid == pid)


def test_cpu_profile_stops_while_another_pane_is_shown() -> None:
    """No samples (so no interrupts, no stack walks) while another pane is on screen; all for ``*``."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    collector = StacksCollector(FREQ_HZ, off_cpu=False)
    try:
        collector.open(Filters(pid=hog.pid))
        time.sleep(0.5)
        first = collector.sample()
        assert _cpu_samples(first, hog.pid) > 0 and not first.cpu_while_shown  # runs until told

        collector.set_option("visible_pane", "procs")
        paused_at = _cpu_samples(collector.sample(), hog.pid)
        time.sleep(1.0)
        sample = collector.sample()
        assert sample.cpu_paused and sample.cpu_while_shown
        assert _cpu_samples(sample, hog.pid) - paused_at <= 2  # at most what was in flight

        collector.set_option("visible_pane", "*")  # batch output or a recording of every pane
        before = _cpu_samples(collector.sample(), hog.pid)
        time.sleep(1.0)
        sample = collector.sample()
        assert not sample.cpu_paused
        assert _cpu_samples(sample, hog.pid) - before >= FREQ_HZ * 0.5
    finally:
        collector.close()
        hog.kill()
        hog.wait()


def test_cpu_profile_told_before_open_never_starts() -> None:
    """The dashboard says which pane shows before collectors open: nothing is sampled for another."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    collector = StacksCollector(FREQ_HZ, off_cpu=False)
    try:
        collector.set_option("visible_pane", "procs")
        collector.open(Filters(pid=hog.pid))
        time.sleep(0.5)
        sample = collector.sample()
        assert sample.cpu_paused and _cpu_samples(sample, hog.pid) <= 2
    finally:
        collector.close()
        hog.kill()
        hog.wait()
