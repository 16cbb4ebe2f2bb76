"""Background loads for the dashboard benchmarks: sleepers, fork+exec churn, many threads.

Each load is a context manager that starts C processes (compiled with gcc into
a temporary directory) and kills them on exit, so an interrupted benchmark
leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Wakes every PERIOD ms, makes a few syscalls (so every collector has something
# per process each second) and sleeps again: "300 processes each waking every second".
SLEEPER_C = r"""
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	struct timespec nap = { ms / 1000, (ms % 1000) * 1000000L };
	for (;;) {
		syscall(SYS_getppid);
		syscall(SYS_getuid);
		syscall(SYS_close, -1);
		nanosleep(&nap, NULL);
	}
}
"""

# Forks and execs `true` RATE times a second: new pids, comms and exits every tick.
CHURN_C = r"""
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
int main(int argc, char **argv)
{
	long rate = argc > 1 ? atol(argv[1]) : 200;
	char *const args[] = { argv[2], NULL };
	struct timespec gap = { 0, 1000000000L / rate };
	for (;;) {
		pid_t pid = fork();
		if (pid == 0) {
			execv(argv[2], args);
			_exit(127);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		nanosleep(&gap, NULL);
	}
}
"""

# One process with N threads, each waking every second: many tids under one pid.
THREADS_C = r"""
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static void *run(void *arg)
{
	struct timespec one = { 1, 0 };
	(void)arg;
	for (;;) {
		getppid();
		nanosleep(&one, NULL);
	}
	return NULL;
}
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, &attr, run, NULL);
	}
	pause();
}
"""


def _build(work: Path, stem: str, source: str, *flags: str) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc") or sys.exit("gcc not found")
    src, exe = work / f"{stem}.c", work / stem
    src.write_text(source)
    subprocess.run([gcc, "-O2", "-o", str(exe), str(src), *flags], check=True)
    return exe


@contextmanager
def running(
    sleepers: int = 300, period_ms: int = 1000, churn_per_s: int = 0, threads: int = 0
) -> Iterator[list[int]]:
    """Start the load; yield the pids started (the churn's children come and go).

    A benchmark killed outright must not leave 300 sleepers behind: each
    child dies with it (``PR_SET_PDEATHSIG``), and a SIGTERM is made an exit,
    so every ``finally`` (tmux sessions too) runs.
    """
    procs: list[subprocess.Popen[bytes]] = []
    with _term_exits(), tempfile.TemporaryDirectory(prefix="bpftop-load-") as tmp:
        work = Path(tmp)
        try:
            if sleepers:
                exe = _build(work, "sleeper", SLEEPER_C)
                procs += [_start([str(exe), str(period_ms)]) for _ in range(sleepers)]
            if churn_per_s:
                exe = _build(work, "churn", CHURN_C)
                true = shutil.which("true") or "/bin/true"
                procs.append(_start([str(exe), str(churn_per_s), true]))
            if threads:
                exe = _build(work, "threads", THREADS_C, "-pthread")
                procs.append(_start([str(exe), str(threads)]))
            yield [p.pid for p in procs]
        finally:
            for p in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
            for p in procs:
                p.wait()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, preexec_fn=_die_with_parent)  # noqa: PLW1509 (no threads yet)


@contextmanager
def _term_exits() -> Iterator[None]:
    """SIGTERM raises SystemExit while the load runs (main thread, default handler only)."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
