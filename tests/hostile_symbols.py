"""An attacker's toolkit for the symbolization tests of ``test_hostile.py``.

Programs run as ``nobody`` (optionally in their own user and mount namespace,
as any unprivileged user can) and spin on the CPU, so that root's
``bpftop profile -p PID`` samples them and reads what they control: their
binaries' sections and their perf map. ELF surgery here works on gcc's real
output, so the hostile binaries still run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peak_rss import Measured

NOBODY = pwd.getpwnam("nobody")
AS_NOBODY = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups"]

# HOT is named by -D, so two builds differ only in the name (same code, same addresses).
BUSY_SOURCE = r"""
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) void HOT(volatile unsigned long *n) { for (;;) (*n)++; }
int main(void) { volatile unsigned long n = 0; char c;
    printf("ready\n"); fflush(stdout); if (read(0, &c, 1) < 0) return 1; HOT(&n); return 0; }
"""

# Code in anonymous executable memory, as a JIT's: only a perf map can name it.
JIT_SOURCE = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) { char c;
    int prot = PROT_READ | PROT_WRITE | PROT_EXEC;
    unsigned char *code = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(code, "\xeb\xfe", 2);  /* jmp . */
    printf("ready\n"); fflush(stdout); if (read(0, &c, 1) < 0) return 1;
    ((void (*)(void))code)(); return 0; }
"""


@contextmanager
def attacker_dir() -> Iterator[Path]:
    """A directory of nobody's, outside /tmp (which a namespaced attacker mounts over)."""
    path = Path(tempfile.mkdtemp(prefix="bpftop-hostile-", dir="/var/tmp"))
    try:
        os.chmod(path, 0o755)
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def compile_c(source: str, out: Path, *flags: str) -> Path:
    """gcc ``source`` to ``out`` (readable and executable by nobody)."""
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-O1", "-fno-omit-frame-pointer", "-o", str(out), str(src), *flags],
                   check=True, capture_output=True)
    out.chmod(0o755)
    return out


def add_section(exe: Path, name: str, data: bytes, out: Path) -> Path:
    """A copy of ``exe`` with one more (non-allocated) section; strips ``.symtab``."""
    blob = out.with_name(out.name + name)
    blob.write_bytes(data)
    subprocess.run(["objcopy", "--strip-all", "--add-section", f"{name}={blob}", str(exe), str(out)],
                   check=True, capture_output=True)
    out.chmod(0o755)
    return out


def many_sections(exe: Path, out: Path, count: int, name_bytes: int) -> Path:
    """A copy of a 64-bit ``exe`` whose section table is ``count`` PROGBITS sections.

    All are named at offset 0 of a section-name table of ``name_bytes``
    bytes with no terminator, at the end of the file. The kernel never
    reads section headers, so the program still runs.
    """
    image = bytearray(exe.read_bytes())
    shdrs_at = (len(image) + 7) & ~7
    image += bytes(shdrs_at - len(image))
    names_at = shdrs_at + 64 * count
    shdr = struct.Struct("<IIQQQQIIQQ")
    image += shdr.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)  # the null section
    image += shdr.pack(0, 3, 0, 0, names_at, name_bytes, 0, 0, 1, 0)  # 1: the names (SHT_STRTAB)
    image += shdr.pack(0, 1, 0, 0, 0, 16, 0, 0, 1, 0) * (count - 2)
    image += b"A" * name_bytes
    struct.pack_into("<Q", image, 0x28, shdrs_at)  # e_shoff
    struct.pack_into("<HHH", image, 0x3A, 64, count, 1)  # e_shentsize, e_shnum, e_shstrndx
    out.write_bytes(image)
    out.chmod(0o755)
    return out


class Attacker:
    """A program running as nobody: started, waiting for ``go()`` to spin."""

    def __init__(self, argv: list[str], namespace: bool = False) -> None:
        if namespace:  # its own user and mount namespace, a private tmpfs on /tmp
            argv = ["unshare", "-Urm", "sh", "-c", 'mount -t tmpfs none /tmp && exec "$0"', *argv]
        self.popen = subprocess.Popen(AS_NOBODY + argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        assert line == b"ready\n", f"{argv} did not start: {line!r}, exit {self.popen.poll()}"
        self.pid = self.popen.pid
        self.namespace = namespace

    def plant(self, script: str) -> None:
        """Runs a shell script as the attacker (in its namespaces), ``$MAP`` being its perf map's path.

        Planted by the attacker itself: root could not even create a file on
        the tmpfs of a user namespace that does not map root.
        """
        argv = ["sh", "-c", script]
        if self.namespace:
            # --preserve-credentials: nsenter's setgroups() is denied in a user namespace.
            argv = ["nsenter", "--preserve-credentials", "-t", str(self.pid), "-U", "-m", *argv]
        env = {"MAP": f"/tmp/perf-{self.pid}.map", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        subprocess.run(AS_NOBODY + argv, check=True, env=env, capture_output=True)

    def go(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(b"g")
        self.popen.stdin.flush()

    def stop(self) -> None:
        self.popen.kill()
        self.popen.wait(10)
        if not self.namespace:
            Path(f"/tmp/perf-{self.pid}.map").unlink(missing_ok=True)


class Run:
    """A finished ``bpftop profile``: output, time taken, peak RSS."""

    def __init__(self, stdout: str, stderr: str, seconds: float, max_rss_mb: float) -> None:
        self.stdout, self.stderr, self.seconds, self.max_rss_mb = stdout, stderr, seconds, max_rss_mb


def profile(pid: int, work: Path, timeout_s: float, duration_s: float = 2.0) -> Run:
    """Runs ``bpftop profile -p PID`` as root; kills it past ``timeout_s``.

    Peak RSS is the child's own (``tests/peak_rss.py``): not RUSAGE_CHILDREN,
    which also holds gcc's, nor pytest's that a direct child inherits.
    """
    out, err = work / "profile.out", work / "profile.err"
    argv = [sys.executable, "-m", "bpftop", "profile", "-p", str(pid), "--duration", str(duration_s)]
    start = time.monotonic()
    with out.open("wb") as fout, err.open("wb") as ferr:
        child = Measured(argv, stdout=fout, stderr=ferr, stdin=subprocess.DEVNULL)
    while (code := child.poll()) is None:
        if time.monotonic() - start > timeout_s:
            child.kill()
            child.wait()
            raise AssertionError(f"bpftop profile still running after {timeout_s:.0f} s: "
                                 f"{err.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    seconds = time.monotonic() - start
    stderr = err.read_text(errors="replace")
    assert code == 0, f"bpftop profile exited {code}: {stderr[-2000:]}"
    return Run(out.read_text(errors="replace"), stderr, seconds, child.peak_kb / 1024)
