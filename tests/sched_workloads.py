"""Scheduler workloads for the runqlat tests and benchmark: CPU hogs, a sleeper, a ping-pong.

Like ``workloads.py``, the measured part runs in a small C program compiled
with gcc on first use. It pins itself to a CPU, prints ``ready``, blocks until
the "go" byte on stdin, runs, prints ``done <figure>`` and blocks on stdin
again, so the process is alive (and its pid still means it) while the test
samples. Modes:

- ``hog SECONDS CPU``: spin for SECONDS of wall time; the figure is the
  CPU time it got (ns, from CLOCK_PROCESS_CPUTIME_ID).
- ``sleeper N MS CPU``: N sleeps of MS milliseconds; the figure is N.
- ``pingpong N CPU``: fork a child on the same CPU and bounce a byte through
  two pipes N times; every round trip is two context switches. The figure is
  ns per round trip.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import workloads

SOURCE = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void wait_stdin(void)
{
	char c;

	if (read(0, &c, 1) < 0)
		_exit(3);
}

static double hog(double seconds)
{
	double end = now_ns(CLOCK_MONOTONIC) + seconds * 1e9;
	double cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	volatile unsigned long spins = 0;

	while (now_ns(CLOCK_MONOTONIC) < end)
		for (int i = 0; i < 1000; i++)
			spins++;
	return now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
}

static double sleeper(long n, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	for (long i = 0; i < n; i++)
		nanosleep(&ts, NULL);
	return n;
}

static double pingpong(long n)
{
	int to_child[2], to_parent[2];
	double t0, t1;
	char c = 'x';
	pid_t child;

	if (pipe(to_child) || pipe(to_parent))
		_exit(5);
	child = fork();
	if (child == 0) {
		for (long i = 0; i < n; i++)
			if (read(to_child[0], &c, 1) != 1 || write(to_parent[1], &c, 1) != 1)
				_exit(6);
		_exit(0);
	}
	t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++)
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1)
			_exit(7);
	t1 = now_ns(CLOCK_MONOTONIC);
	waitpid(child, NULL, 0);
	return (t1 - t0) / n;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	cpu_set_t set;
	char line[64];
	double figure;
	int len;

	if (argc < 4) {
		fprintf(stderr, "usage: %s hog SECONDS CPU | sleeper N MS CPU | pingpong N CPU\n", argv[0]);
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(atoi(argv[argc - 1]), &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 4;
	if (write(1, "ready\n", 6) != 6)
		return 3;
	wait_stdin();
	if (!strcmp(mode, "hog"))
		figure = hog(atof(argv[2]));
	else if (!strcmp(mode, "sleeper"))
		figure = sleeper(atol(argv[2]), atol(argv[3]));
	else
		figure = pingpong(atol(argv[2]));
	len = snprintf(line, sizeof(line), "done %.3f\n", figure);
	if (write(1, line, len) != len)
		return 3;
	wait_stdin();
	return 0;
}
"""


def build() -> Path:
    """Compile the workload once (see ``workloads.compile_c``) and return its path."""
    return workloads.compile_c(SOURCE, "sched_loop")


def wait_blocked(wl: workloads.Workload, timeout_s: float = 5.0) -> None:
    """Wait until the workload sleeps (in its read of stdin after ``done``).

    It prints ``done`` just before that read, so a test that samples as soon as
    it reads the line could miss the final switch-out.
    """
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{wl.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "S":
        if time.monotonic() > deadline:
            raise TimeoutError(f"workload {wl.pid} did not block")
        time.sleep(0.001)


def start(*args: object, exe: Path | None = None, uid: int | None = None) -> workloads.Workload:
    """Start ``sched_loop ARGS...`` (as ``uid`` if given) and wait until it is ready for ``go``.

    ``Workload.wait_done`` then returns the mode's figure (see the module docstring).
    """
    argv = [str(exe or build()), *map(str, args)]
    ids = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, **ids)
    workload = workloads.Workload(proc)
    try:
        line = workloads._read_line(proc, 10.0)
    except BaseException:
        workload.finish(1.0)
        raise
    if line != "ready":
        workload.finish(1.0)
        raise RuntimeError(f"sched_loop {args} did not start: {line!r} (exit {proc.poll()})")
    return workload


def busy_ns() -> int:
    """All CPUs' non-idle time by /proc/stat (user, nice, system, irq, softirq), in ns, to a tick."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
