#!/usr/bin/env python3
"""Benchmark the tcp collector's kernel cost per TCP message against libbpf-tools tcplife (needs root).

A client and a server process pinned to one CPU bounce 1-byte messages over a
loopback TCP connection (TCP_NODELAY): every round trip is two send() and two
recv() calls. With (a) nothing attached, (b) empty programs on bpftop's
tp_btf hooks (the floor), (c) bpftop's tcp collector and (d) libbpf-tools
``tcplife``. Configurations take turns round by round so drift hits all
alike; each figure is the median.

tcplife only hooks inet_sock_set_state: it costs nothing per message and
cannot count live bytes, so (d) is expected at ~(a). bpftop's live bytes per
connection and per process need the sock_send_length/sock_recv_length hooks,
whose cost (b) shows; the comparison says what that buys and costs.

1. Wall clock: ns per message (half a round trip, timed by the workload).
2. BPF run time per message from the kernel's BPF statistics
   (BPF_ENABLE_STATS): per program run time summed, over messages sent.

Usage:
    sudo python benchmarks/bench_tcp.py [--trips N] [--rounds R] [--cpu C]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import workloads  # noqa: E402 - after the path set-up above
from common import (  # noqa: E402
    Attach,
    bpf_run_time,
    compile_empty,
    empty_programs,
    nothing,
    print_table,
    prog_stats,
)

from bpftop.collectors.base import Filters  # noqa: E402
from bpftop.collectors.tcp import TcpCollector  # noqa: E402

TCPLIFE = "/usr/sbin/tcplife"
NOTHING, EMPTY, BPFTOP, LIFE = (
    "(a) nothing attached",
    "(b) empty tp_btf programs",
    "(c) bpftop tcp (tp_btf)",
    "(d) libbpf-tools tcplife",
)

PINGPONG = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int main(int argc, char **argv)
{
	long trips = atol(argv[1]);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	struct timespec t0, t1;
	char byte = 'x';
	int lfd, fd;

	pin(atoi(argv[2]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 1) ||
		getsockname(lfd, (struct sockaddr *)&addr, &len))
		return 1;
	if (fork() == 0) { /* the server echoes every byte */
		fd = accept(lfd, NULL, NULL);
		nodelay(fd);
		while (recv(fd, &byte, 1, 0) == 1 && send(fd, &byte, 1, 0) == 1)
			;
		return 0;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		return 1;
	nodelay(fd);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < trips; i++)
		if (send(fd, &byte, 1, 0) != 1 || recv(fd, &byte, 1, 0) != 1)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	wait(NULL);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (2.0 * trips));
	return 0;
}
"""


@contextmanager
def bpftop_collector() -> Iterator[set[int]]:
    collector = TcpCollector()
    collector.open(Filters())
    try:
        yield set(collector._obj.program_ids())
    finally:
        collector.sample()  # drains the ring buffer, as the dashboard would
        collector.close()


@contextmanager
def tcplife() -> Iterator[set[int]]:
    before = set(prog_stats())
    proc = subprocess.Popen([TCPLIFE], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    new: set[int] = set()
    while not new and time.monotonic() < deadline:  # it prints no banner: wait for its program
        time.sleep(0.05)
        new = set(prog_stats()) - before
        if proc.poll() is not None:
            sys.exit(f"tcplife did not start: {proc.communicate()[1]!r}")
    try:
        yield new
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def message_ns(exe: Path, trips: int, cpu: int) -> float:
    """ns per message (one send and one receive): half a ping-pong round trip."""
    out = subprocess.run([str(exe), str(trips), str(cpu)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def bpf_ns_per_message(ids: set[int], exe: Path, trips: int, cpu: int) -> float:
    """BPF run time of ``ids`` across one run, per message."""
    before = prog_stats()
    message_ns(exe, trips, cpu)
    after = prog_stats()
    return sum(after[i][1] - before[i][1] for i in ids if i in after and i in before) / (2 * trips)


def bench(configs: dict[str, Attach], exe: Path, trips: int, rounds: int, cpu: int) -> None:
    message_ns(exe, trips // 10, cpu)  # warm the caches and the CPU frequency
    wall: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(rounds):
        for name, attach in configs.items():
            with attach():
                wall[name].append(message_ns(exe, trips, cpu))
        print(f"  round {r + 1}/{rounds}: " + "  ".join(f"{v[-1]:.0f}" for v in wall.values()))
    median = print_table(
        f"wall clock: {trips:,} round trips on CPU {cpu}, median of {rounds}", wall, "ns/msg"
    )
    base = median[NOTHING]
    print()
    for name, value in median.items():
        if name != NOTHING:
            print(f"{name[4:] + ' added:':36} {value - base:7.1f} ns/msg ({value / base:.3f} x nothing)")
    if min(median.values()) < base:  # an attached configuration beat "nothing": the machine is too busy
        print("wall clock too noisy to compare (an attached configuration beat none); see BPF statistics")
    elif LIFE in median:
        print(f"bpftop added - tcplife added:        {median[BPFTOP] - median[LIFE]:7.1f} ns/msg")

    runtime = bpf_run_time(
        configs, rounds, lambda ids: bpf_ns_per_message(ids, exe, trips // 4, cpu), "message"
    )
    if runtime is None:
        return
    median = print_table("BPF run time per message (kernel BPF statistics)", runtime, "ns/msg")
    print(f"\nbpftop above the floor (empty programs): {median[BPFTOP] - median[EMPTY]:.1f} ns/msg")
    if LIFE in median:
        print(f"bpftop - tcplife:                         {median[BPFTOP] - median[LIFE]:.1f} ns/msg")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=100_000, help="ping-pong round trips per run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1, help="CPU for the workload")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark loads BPF programs")
    exe = workloads.compile_c(PINGPONG, "tcp_pingpong")
    print(f"bpftop tcp benchmark: kernel {platform.release()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        empty = compile_empty("empty_tcp", Path(tmp))
        configs: dict[str, Attach] = {
            NOTHING: nothing,
            EMPTY: lambda: empty_programs(empty),
            BPFTOP: bpftop_collector,
        }
        if os.path.exists(TCPLIFE):
            configs[LIFE] = tcplife
        bench(configs, exe, args.trips, args.rounds, args.cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
