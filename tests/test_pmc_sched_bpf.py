"""pmc's software counters from the scheduler accounting, against the kernel's own counts (root, BPF).

Without a PMU, task-clock, page faults, context switches and migrations come
from runqlat's part of sched.bpf.o, which adds each thread's deltas at its
switch-outs (collectors/pmc_sched.py): no perf event is read at a switch.
A C workload blocks on stdin between phases, so each sample is taken with
every one of its switch-outs counted; its own getrusage and the kernel's
/proc/PID/sched are the truth.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sched_workloads
import workloads
from conftest import scaled

from bpftop.collectors.base import Filters
from bpftop.collectors.pmc import PmcCollector, PmcSample
from bpftop.derive.pmc import PmcView, derive_pmc

pytestmark = pytest.mark.bpf

SLEEPS, PAGES, HOPS = 200, 500, 20
SOURCE = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char **argv)
{
	int sleeps = atoi(argv[1]), pages = atoi(argv[2]), hops = atoi(argv[3]), ncpu = atoi(argv[4]);
	struct timespec ms = { 0, 1000 * 1000 };
	struct rusage a, b;
	char *buf = mmap(NULL, pages * 4096L, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	madvise(buf, pages * 4096L, MADV_NOHUGEPAGE);
	pin(0);
	getrusage(RUSAGE_SELF, &a);
	if (write(1, "ready\n", 6) != 6 || read(0, &c, 1) != 1)
		return 1;
	for (int i = 0; i < sleeps; i++)
		nanosleep(&ms, NULL);
	for (int i = 0; i < pages; i++)
		buf[i * 4096L] = 1;
	for (int i = 0; i < hops && ncpu > 1; i++)
		pin(i % 2 ? 0 : 1); /* each a move to the other CPU */
	pin(0);
	getrusage(RUSAGE_SELF, &b);
	printf("%ld %ld\n", (b.ru_nvcsw + b.ru_nivcsw) - (a.ru_nvcsw + a.ru_nivcsw),
		(b.ru_minflt + b.ru_majflt) - (a.ru_minflt + a.ru_majflt));
	fflush(stdout);
	return read(0, &c, 1) < 0; /* until stdin closes */
}
"""


@pytest.fixture
def collector() -> Iterator[PmcCollector]:
    c = PmcCollector(event_names=())
    c.open(Filters())
    assert c.from_sched  # software events on a kernel with runqlat's part
    yield c
    c.close()


def nr_migrations(pid: int) -> int | None:
    """The kernel's se.nr_migrations of a one-thread process (CONFIG_SCHED_DEBUG), or None."""
    try:
        text = Path(f"/proc/{pid}/sched").read_text()
    except OSError:
        return None
    line = next((x for x in text.splitlines() if x.startswith("se.nr_migrations")), None)
    return int(line.split(":")[1]) if line else None


def switched_out(wl: workloads.Workload) -> None:
    """Wait until the workload blocked and switched out.

    /proc shows it sleeping (S) as soon as it sets its state, just before it
    calls into the scheduler: sampling right then missed its switch-out (seen
    on 6.12 under emulation), so give that switch a moment more.
    """
    sched_workloads.wait_blocked(wl)
    time.sleep(scaled(0.05))


def column(v: PmcView, name: str) -> int:
    return v.events.index(next(e for e in v.events if e.name == name))


def test_switches_faults_and_migrations_are_the_kernels_own() -> None:
    # On a 1-vCPU guest there is nowhere to migrate: the count must stay 0.
    ncpu = 2 if len(os.sched_getaffinity(0)) > 1 and {0, 1} <= os.sched_getaffinity(0) else 1
    exe = workloads.compile_c(SOURCE, "pmc_sched")
    c = PmcCollector(event_names=())
    proc = subprocess.Popen([str(exe), str(SLEEPS), str(PAGES), str(HOPS), str(ncpu)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        c.open(Filters())
        assert c.from_sched
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        wl = workloads.Workload(proc)
        switched_out(wl)  # into read(): counted before `before`
        migrations_before = nr_migrations(proc.pid)
        before: PmcSample = c.sample()
        proc.stdin.write("g")
        proc.stdin.flush()
        switches, faults = map(int, proc.stdout.readline().split())
        switched_out(wl)  # its last switch-out, into read(), counted too
        migrations = nr_migrations(proc.pid)
        after = c.sample()
    finally:
        c.close()
        proc.kill()
        proc.wait()
    v = derive_pmc(before, after, (after.ts_ns - before.ts_ns) / 1e9, {})
    row = v.by_pid[proc.pid]
    # getrusage counted the switch into the first read() (before `before`) and
    # not the one into the last (after it printed): the same number of
    # switches, plus a preemption while printing, if the reader it woke took
    # its CPU (seen once, on 6.1 under emulation).
    got = row.figures[column(v, "context-switches")].raw
    assert switches <= got <= switches + 1, (row, switches)
    assert switches >= SLEEPS
    # Between the two switch-outs: the pages touched, and after its getrusage
    # what printing the line cost (stdio's first buffer: a few pages).
    got = row.figures[column(v, "page-faults")].raw
    assert PAGES <= faults <= got <= faults + 16, (got, faults)
    if migrations is not None and migrations_before is not None:
        assert row.figures[column(v, "cpu-migrations")].raw == migrations - migrations_before
    if ncpu > 1:
        assert row.figures[column(v, "cpu-migrations")].raw >= HOPS


def test_it_never_pauses_and_falls_back_where_runqlat_cannot_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from bpftop.bpf.errors import AttachError
    from bpftop.collectors import sched

    c = PmcCollector(event_names=())
    c.open(Filters())
    try:
        c.set_option("visible_pane", "syscalls")  # nothing it counts on screen: costs nothing to go on
        hidden = c.sample()
        assert not hidden.paused and hidden.unread  # counted on, not read
    finally:
        c.close()
    real = sched.acquire

    def before_512(filters: Filters, *, runqlat: bool) -> object:
        if runqlat:  # runqlat's part needs 5.12 (its cmpxchg)
            raise AttachError("cannot load sched", {"tp_btf": "invalid insn"})
        return real(filters, runqlat=runqlat)

    monkeypatch.setattr(sched, "acquire", before_512)
    c = PmcCollector(event_names=())
    c.open(Filters())
    try:
        assert not c.from_sched
        first = c.sample()
        time.sleep(0.2)
        v = derive_pmc(first, c.sample(), 0.2, {})
        assert v.cpus and v.total is not None and v.total.figures[0].raw > 0
    finally:
        c.close()
