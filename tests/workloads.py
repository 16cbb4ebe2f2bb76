"""Workload programs with exactly known syscall counts, for tests and benchmarks.

Python's runtime makes syscalls of its own (GC, imports, signal wakeups), so the
measured part runs in a tiny C program compiled with gcc on first use. It
starts, prints ``ready``, and blocks reading one byte from stdin: the test
attaches bpftop (knowing the child's pid) and only then sends the "go" byte.
After the loop it prints ``done <ns_per_call>`` and blocks on stdin again, so
the process is still alive (and its pid still means it) while the test samples;
closing stdin lets it exit.

Besides the measured calls, the C runtime makes execve, brk, mmap, mprotect,
munmap, openat, newfstatat/fstat, read, pread64, close, access, arch_prctl, rt_sigaction,
set_tid_address, set_robust_list, rseq, prlimit64, getrandom, write and
exit_group; ``threads`` adds clone3, futex, rt_sigprocmask and madvise;
``sched_setaffinity`` when ``--cpu`` is given. None of them is getppid or
nanosleep, so those counts are exactly N. ``close_bad`` fails with EBADF
exactly N times (the loader's own closes succeed). Syscalls are issued with
``syscall(2)`` so glibc cannot substitute another one (glibc's nanosleep()
is clock_nanosleep).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SOURCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long n_calls;
static const char *mode;

static void *loop(void *arg)
{
	struct timespec ten_ms = { 0, 10 * 1000 * 1000 };

	(void)arg;
	for (long i = 0; i < n_calls; i++) {
		if (!strcmp(mode, "close_bad"))
			syscall(SYS_close, -1);
		else if (!strcmp(mode, "nanosleep"))
			syscall(SYS_nanosleep, &ten_ms, NULL);
		else
			syscall(SYS_getppid);
	}
	return NULL;
}

static void wait_stdin(void)
{
	char c;

	if (read(0, &c, 1) < 0)
		_exit(3);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	pthread_t tids[4];
	char line[64];
	int threads, len;
	double elapsed_ns;

	if (argc < 3) {
		fprintf(stderr, "usage: %s getppid|close_bad|nanosleep|threads N [CPU]\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	n_calls = atol(argv[2]);
	threads = !strcmp(mode, "threads") ? 4 : 0;
	if (argc > 3) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(argv[3]), &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return 4;
	}
	if (write(1, "ready\n", 6) != 6)
		return 3;
	wait_stdin();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (threads) {
		for (int i = 0; i < threads; i++)
			pthread_create(&tids[i], NULL, loop, NULL);
		for (int i = 0; i < threads; i++)
			pthread_join(tids[i], NULL);
	} else {
		loop(NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed_ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	len = snprintf(line, sizeof(line), "done %.3f\n",
		elapsed_ns / (double)(n_calls * (threads ? threads : 1)));
	if (write(1, line, len) != len)
		return 3;
	wait_stdin();
	return 0;
}
"""

THREADS = 4  # threads the ``threads`` mode starts


def _build_dir() -> Path:
    # World-readable: a workload may run as nobody (uid filter test), which
    # cannot enter pytest's 0700 tmp_path.
    path = Path(tempfile.gettempdir()) / f"bpftop-workloads-{os.getuid()}"
    path.mkdir(mode=0o755, exist_ok=True)
    path.chmod(0o755)
    return path


def compile_c(source: str, stem: str, flags: tuple[str, ...] = (), out_dir: Path | None = None) -> Path:
    """Compile a C workload once (cached by source hash) and return its path.

    Raises:
        RuntimeError: gcc is missing or the compile failed, with gcc's output.
    """
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError(f"gcc not found: the {stem} workload is a compiled C program")
    out_dir = out_dir or _build_dir()
    exe = out_dir / f"{stem}-{hashlib.sha256(source.encode()).hexdigest()[:12]}"
    if exe.exists():
        return exe
    src = exe.with_suffix(".c")
    src.write_text(source)
    tmp = exe.with_suffix(f".{os.getpid()}.tmp")  # concurrent builders each rename their own
    proc = subprocess.run(
        [gcc, "-O2", *flags, "-o", str(tmp), str(src)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"compiling the {stem} workload failed:\n{proc.stderr}")
    tmp.chmod(0o755)
    tmp.replace(exe)
    return exe


def build(out_dir: Path | None = None) -> Path:
    """Compile the syscall workload (see ``compile_c``) and return its path."""
    return compile_c(SOURCE, "syscall_loop", ("-pthread",), out_dir)


@dataclass
class Workload:
    """A started workload, blocked until ``go``.

    Attributes:
        proc: the child process; ``pid`` is its tgid.
        ns_per_call: filled in by ``wait_done`` from the child's own clock.
    """

    proc: subprocess.Popen[bytes]
    ns_per_call: float = 0.0

    @property
    def pid(self) -> int:
        """The child's pid (tgid)."""
        return self.proc.pid

    def go(self) -> None:
        """Release the child into its measured loop."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"g")
        self.proc.stdin.flush()

    def wait_done(self, timeout_s: float = 60.0) -> float:
        """Wait until the loop finished; return the child's ns per call."""
        line = _read_line(self.proc, timeout_s)
        if not line.startswith("done "):
            raise RuntimeError(f"workload {self.pid} said {line!r}, expected 'done'")
        self.ns_per_call = float(line.split()[1])
        return self.ns_per_call

    def run(self, timeout_s: float = 60.0) -> float:
        """``go`` then ``wait_done``."""
        self.go()
        return self.wait_done(timeout_s)

    def finish(self, timeout_s: float = 10.0) -> int:
        """Let the child exit (close its stdin) and reap it; return its exit status."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> Workload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def start(
    mode: str,
    n: int,
    *,
    cpu: int | None = None,
    uid: int | None = None,
    exe: Path | None = None,
) -> Workload:
    """Start ``syscall_loop MODE N [CPU]`` and wait until it is ready for ``go``.

    Args:
        mode: ``getppid``, ``close_bad``, ``nanosleep`` (10 ms each) or
            ``threads`` (4 threads x N getppid).
        n: calls per thread.
        cpu: pin the child to this CPU (benchmarks).
        uid: run as this user (and group of the same number, no supplementary groups).
        exe: an already built workload binary.
    """
    argv = [str(exe or build()), mode, str(n)]
    if cpu is not None:
        argv.append(str(cpu))
    # Unbuffered: readline must not read ahead past a line that select() saw.
    ids = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, **ids)
    workload = Workload(proc)
    try:
        line = _read_line(proc, 10.0)
    except BaseException:
        workload.finish(1.0)
        raise
    if line != "ready":
        workload.finish(1.0)
        raise RuntimeError(f"workload {mode} did not start: {line!r} (exit {proc.poll()})")
    return workload


def _read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            raise TimeoutError(f"workload {proc.pid} silent for {timeout_s}s")
    return proc.stdout.readline().decode().strip()


def up_to_three_runs(test: Callable[..., None]) -> Callable[..., None]:
    """Re-run an exact-count or timing test up to three times; it must pass in one.

    In the VM these tests were written on, BPF programs never run while a thread
    of pid 1 (the sandbox's agent) is the current task, so an event landing on
    it (an I/O completion interrupt, a softirq with a handshake's last ACK, a
    switch) is invisible to every BPF tool, libbpf-tools included: about one in
    a few thousand. Shared CPUs also stretch timings now and then. A real
    counting bug fails all three runs.
    """

    @functools.wraps(test)
    def run(*args: object, **kwargs: object) -> None:
        for attempt in range(3):
            try:
                test(*args, **kwargs)
                return
            except AssertionError:
                if attempt == 2:
                    raise

    return run


def json_lines(text: str) -> list[dict[str, object]]:
    """The JSON objects among ``bpftop --json`` output lines."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def getppid_calls(lines: list[dict[str, object]]) -> tuple[int, int]:
    """(sum of interval calls, cumulative calls at the end) of getppid over JSON lines."""
    rows = [next((s for s in line["syscalls"]["syscalls"] if s["name"] == "getppid"), None) for line in lines]  # type: ignore[index]
    return sum(r["calls"] for r in rows if r), max((r["calls_total"] for r in rows if r), default=0)
