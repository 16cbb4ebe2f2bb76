"""Block devices for tests and benchmarks: loop devices, ext4 on them, exact O_DIRECT I/O.

Everything here cleans up after itself, also on failure: loop devices are
detached, file systems unmounted, backing files removed. The I/O workload is a
small C program (compiled with gcc on first use, cached by source hash) that
opens the device with ``O_DIRECT``, prints ``ready``, waits for a byte on stdin,
then makes exactly ``writes`` 4 KiB writes and ``reads`` 4 KiB reads (one
request each: O_DIRECT, aligned, synchronous), prints ``done <ns_per_io>`` and
waits on stdin again, so its pid stays meaningful while the test samples. It
follows the protocol of ``tests/workloads.py`` and is driven by its
``Workload`` class.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import workloads

IO_SIZE = 4096
SOURCE = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void wait_stdin(void)
{
	char c;

	if (read(0, &c, 1) < 0)
		_exit(3);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	long writes, reads, span;
	char line[64];
	void *buf;
	int fd, len;

	if (argc < 5) {
		fprintf(stderr, "usage: %s DEVICE WRITES READS SPAN_BLOCKS [CPU]\n", argv[0]);
		return 2;
	}
	writes = atol(argv[2]);
	reads = atol(argv[3]);
	span = atol(argv[4]);
	if (argc > 5) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(argv[5]), &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return 4;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, 4096))
		return 5;
	memset(buf, 0xa5, 4096);
	if (write(1, "ready\n", 6) != 6)
		return 3;
	wait_stdin();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < writes; i++)
		if (pwrite(fd, buf, 4096, (i % span) * 4096) != 4096)
			return 6;
	for (long i = 0; i < reads; i++)
		if (pread(fd, buf, 4096, (i % span) * 4096) != 4096)
			return 7;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	len = snprintf(line, sizeof(line), "done %.3f\n",
		((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
		(double)(writes + reads ? writes + reads : 1));
	if (write(1, line, len) != len)
		return 3;
	wait_stdin();
	return 0;
}
"""


def build_io() -> Path:
    """Compile the workload once (see ``workloads.compile_c``) and return its path."""
    return workloads.compile_c(SOURCE, "direct_io")


def start_io(
    device: str, writes: int, reads: int, *, span: int = 256, cpu: int | None = None, exe: Path | None = None
) -> workloads.Workload:
    """Start the I/O workload on ``device`` and wait until it is ready for ``go``.

    The workload opens a private node of the device, not ``device`` itself:
    udev watches ``/dev/loop*`` with inotify and re-reads a disk whenever a
    writer closes its node (a blkid probe of a dozen reads), which would land
    in the exact counts. The private node is gone once the device is open.
    """
    with tempfile.TemporaryDirectory(prefix="bpftop-node-") as tmp:
        node = Path(tmp) / Path(device).name
        os.mknod(node, stat.S_IFBLK | 0o600, os.stat(device).st_rdev)
        argv = [str(exe or build_io()), str(node), str(writes), str(reads), str(span)]
        if cpu is not None:
            argv.append(str(cpu))
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        wl = workloads.Workload(proc)
        try:
            line = workloads._read_line(proc, 10.0)
        except BaseException:
            wl.finish(1.0)
            raise
    if line != "ready":
        wl.finish(1.0)
        raise RuntimeError(f"I/O workload did not start: {line!r} (exit {proc.poll()})")
    return wl


def _settle() -> None:
    """Wait for udev to finish probing a new device, where udev runs."""
    if shutil.which("udevadm") is not None:
        subprocess.run(["udevadm", "settle", "--timeout=10"], capture_output=True, check=False)


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout.strip()


def _detach(device: str) -> None:
    # A device still busy (a late udev probe, a lazy unmount) refuses at first.
    for _ in range(50):
        if subprocess.run(["losetup", "-d", device], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["losetup", "-d", device], check=False)


@contextlib.contextmanager
def loop_device(size_bytes: int = 64 << 20) -> Iterator[str]:
    """A loop device over a sparse temporary file; detached and removed on exit."""
    if shutil.which("losetup") is None:
        raise RuntimeError("losetup not found (util-linux)")
    with tempfile.TemporaryDirectory(prefix="bpftop-loop-") as tmp:
        image = Path(tmp) / "disk.img"
        with open(image, "wb") as f:
            f.truncate(size_bytes)
        device = _run("losetup", "-f", "--show", str(image))
        try:
            _settle()
            yield device
        finally:
            _detach(device)


@contextlib.contextmanager
def mounted_ext4(device: str) -> Iterator[Path]:
    """ext4 made on ``device`` and mounted in a temporary directory; unmounted on exit."""
    _run("mkfs.ext4", "-q", "-F", device)
    with tempfile.TemporaryDirectory(prefix="bpftop-mnt-") as mnt:
        _run("mount", device, mnt)
        try:
            yield Path(mnt)
        finally:
            if subprocess.run(["umount", mnt], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", mnt], check=False)
