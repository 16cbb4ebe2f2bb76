"""User-space symbolization against live processes built by the test.

Each workload prints the addresses of its own functions (``%p``), so the
expected names and offsets come from the process itself, never from the code
under test. Processes, files and chroots are made fresh per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import workloads

from bpftop.symbols import Frame, Symbolizer, symbolizer

C_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) int bpftop_sym_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

__attribute__((noinline)) static int bpftop_sym_static(int x)
{
	__asm__ volatile("" ::: "memory");
	return (x ^ 0x55) * 5 + bpftop_sym_target(x);
}

int main(int argc, char **argv)
{
	char c;
	int prot = PROT_READ | PROT_WRITE | PROT_EXEC;
	unsigned char *jit = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *target = (void *)bpftop_sym_target, *stat = (void *)bpftop_sym_static;

	printf("target %p\nstatic %p\njit %p\n", target, stat, (void *)(jit + 0x100));
	if (argc > 1 && strcmp(argv[1], "-")) {
		void *lib = dlopen(argv[1], RTLD_NOW);

		if (!lib)
			return 5;
		printf("lib %p\n", dlsym(lib, "bpftop_lib_function"));
	}
	if (argc > 2) {  /* a JIT would write this as it compiles */
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
		f = fopen(path, "w");
		fprintf(f, "%lx 40 jitted_function_one\n%lx 10 _ZN3jit6OptFooEv\n",
			(unsigned long)(jit + 0x100), (unsigned long)(jit + 0x200));
		fclose(f);
	}
	printf("ready %d\n", bpftop_sym_static(argc));
	fflush(stdout);
	if (read(0, &c, 1) < 0)
		return 3;
	return 0;
}
"""

LIB_SOURCE = r"""
__attribute__((noinline)) int bpftop_lib_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 42;
}
"""

CXX_SOURCE = r"""
#include <cstdio>
#include <unistd.h>

namespace bpftop_ns {
template <typename T> __attribute__((noinline)) T twice(T x) { __asm__ volatile(""); return x + x; }
__attribute__((noinline)) int compute(int x, double y) { __asm__ volatile(""); return x * (int)y; }
}

int main()
{
	char c;
	long (*t)(long) = bpftop_ns::twice<long>;
	std::printf("compute %p\ntwice %p\n", (void *)bpftop_ns::compute, (void *)t);
	std::printf("ready %d\n", bpftop_ns::compute(2, 3.0) + (int)t(4));
	std::fflush(stdout);
	return read(0, &c, 1) < 0;
}
"""


class Proc:
    """A started workload: its pid and the addresses it printed."""

    def __init__(self, argv: list[str], cwd: str | None = None) -> None:
        self.popen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd)
        self.addrs: dict[str, int] = {}
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            key, value = line.split()
            if key == "ready":
                break
            self.addrs[key] = int(value, 16)
        else:
            raise RuntimeError(f"{argv} exited with {self.popen.wait()}")

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            assert self.popen.stdin is not None
            self.popen.stdin.close()
            self.popen.wait(10)


@pytest.fixture
def start() -> Iterator:
    procs: list[Proc] = []

    def _start(argv: list[str], cwd: str | None = None) -> Proc:
        procs.append(Proc(argv, cwd))
        return procs[-1]

    yield _start
    for p in procs:
        p.stop()
        Path(f"/tmp/perf-{p.pid}.map").unlink(missing_ok=True)


def build(stem: str, flags: tuple[str, ...], source: str = C_SOURCE) -> Path:
    try:
        return workloads.compile_c(source, stem, flags)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def nm_value(exe: Path, name: str) -> int:
    out = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    return next(int(line.split()[0], 16) for line in out.splitlines() if line.split()[-1] == name)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="map_files and /proc/PID/root need root")


NOPIE = ("-no-pie", "-fno-pie", "-ldl")
PIE = ("-pie", "-fPIE", "-ldl")


@pytest.mark.parametrize("flags", [NOPIE, PIE], ids=["nopie", "pie"])
def test_executable_functions_named_with_offsets(start, flags: tuple[str, ...]) -> None:
    exe = build("sym_" + flags[0].strip("-"), flags)
    p = start([str(exe)])
    frames = Symbolizer().user(p.pid, [p.addrs["target"] + 1, p.addrs["static"], p.addrs["target"]])
    assert frames == [
        Frame("bpftop_sym_target", str(exe), 1, "user"),
        Frame("bpftop_sym_static", str(exe), 0, "user"),
        Frame("bpftop_sym_target", str(exe), 0, "user"),
    ]


def test_shared_library_loaded_after_first_read(start) -> None:
    lib = build("sym_lib", ("-shared", "-fPIC"), LIB_SOURCE)
    exe = build("sym_pie", ("-pie", "-fPIE", "-ldl"))
    p = start([str(exe), str(lib)])
    sym = Symbolizer()
    assert sym.user(p.pid, [p.addrs["target"]])[0].name == "bpftop_sym_target"
    # The library address is in the maps already read; and a library mapped
    # later is found by re-reading the maps on a miss (the memo is per address).
    frame = sym.user(p.pid, [p.addrs["lib"] + 2])[0]
    assert frame == Frame("bpftop_lib_function", str(lib), 2, "user")


def test_stripped_binary_uses_dynsym_and_keeps_unknown_frames(start) -> None:
    full = build("sym_full", ("-pie", "-fPIE", "-rdynamic", "-ldl"))
    stripped = build("sym_stripped", ("-pie", "-fPIE", "-rdynamic", "-ldl", "-s"))
    p = start([str(stripped)])
    exported, static = Symbolizer().user(p.pid, [p.addrs["target"] + 3, p.addrs["static"] + 2])
    assert exported == Frame("bpftop_sym_target", str(stripped), 3, "user")
    # Not in .dynsym: module + its address in the file, as addr2line takes it.
    assert static == Frame("", str(stripped), nm_value(full, "bpftop_sym_static") + 2, "unknown")
    assert static.label() == f"{stripped.name}+0x{static.offset:x}"


def test_cxx_names_demangled(start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.fail("g++ missing: scripts/setup-dev.sh installs it")
    tmp_path.chmod(0o755)
    src = tmp_path / "cxx.cc"
    src.write_text(CXX_SOURCE)
    exe = src.with_suffix("")
    subprocess.run(["g++", "-O2", "-o", str(exe), str(src)], check=True)
    p = start([str(exe)])
    frames = Symbolizer().user(p.pid, [p.addrs["compute"] + 1, p.addrs["twice"]])
    names = [f.name for f in frames]
    assert names == ["bpftop_ns::compute(int, double)", "long bpftop_ns::twice<long>(long)"]
    # Without the optional library names stay mangled instead of failing.
    from bpftop.symbols import demangle

    monkeypatch.setattr(demangle, "_demangle", None)
    assert Symbolizer().user(p.pid, [p.addrs["compute"]])[0].name == "_ZN9bpftop_ns7computeEid"


def test_perf_map_names_jit_code(start) -> None:
    exe = build("sym_pie", ("-pie", "-fPIE", "-ldl"))
    p = start([str(exe), "-", "jit"])
    jit = p.addrs["jit"]
    frames = Symbolizer().user(p.pid, [jit + 5, jit + 0x100 + 3, jit + 0x80])
    perf_map = f"/tmp/perf-{p.pid}.map"
    assert frames[0] == Frame("jitted_function_one", perf_map, 5, "jit")
    assert frames[1] == Frame("jit::OptFoo()", perf_map, 3, "jit")
    assert frames[2] == Frame("", "[anon]", 0x180, "unknown")  # in the mapping, in no entry


def test_perf_map_written_after_the_first_lookup(start) -> None:
    exe = build("sym_pie", PIE)
    p = start([str(exe)])
    jit = p.addrs["jit"]
    sym = Symbolizer(maps_ttl_s=0)
    assert sym.user(p.pid, [jit + 1]) == [Frame("", "[anon]", 0x101, "unknown")]
    Path(f"/tmp/perf-{p.pid}.map").write_text(f"{jit:x} 20 late_jitted\n")
    assert sym.user(p.pid, [jit + 2]) == [Frame("late_jitted", f"/tmp/perf-{p.pid}.map", 2, "jit")]


@needs_root
def test_deleted_binary(start, tmp_path: Path) -> None:
    exe = tmp_path / "doomed"
    shutil.copy(build("sym_pie", ("-pie", "-fPIE", "-ldl")), exe)
    p = start([str(exe)])
    exe.unlink()
    frame = Symbolizer().user(p.pid, [p.addrs["target"] + 1])[0]
    assert frame == Frame("bpftop_sym_target", f"{exe} (deleted)", 1, "user")


@needs_root
def test_replaced_binary_is_not_misread(start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "app"
    shutil.copy(build("sym_pie", ("-pie", "-fPIE", "-ldl")), exe)
    p = start([str(exe)])
    other = tmp_path / "other"  # a different build renamed over the path, like an upgrade
    shutil.copy(build("sym_lib", ("-shared", "-fPIC"), LIB_SOURCE), other)
    other.replace(exe)
    # The kernel calls the old inode deleted; map_files still opens it.
    assert Symbolizer().user(p.pid, [p.addrs["target"]])[0] == Frame(
        "bpftop_sym_target", f"{exe} (deleted)", 0, "user")
    # Where only a path is known, a file with another inode is refused: module+offset.
    monkeypatch.setattr(symbolizer, "file_candidates", lambda proc, pid, m: symbolizer_candidates(m, exe))
    frame = Symbolizer().user(p.pid, [p.addrs["target"]])[0]
    assert frame.name == "" and frame.module == f"{exe} (deleted)" and frame.kind == "unknown"


def symbolizer_candidates(m: object, path: Path) -> list[tuple[Path | None, str, bool]]:
    return [(None, str(path), False)]


@needs_root
@pytest.mark.parametrize("use_map_files", [True, False])
def test_binary_in_another_mount_namespace(start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           use_map_files: bool) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) missing")
    exe = build("sym_static", ("-static",))
    # Like a container: the binary lives on a mount only the child's namespace has.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f"mount -t tmpfs none {mnt} && cp {exe} {mnt}/app && exec {mnt}/app"
    p = start(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
    assert not (mnt / "app").exists()  # not in our namespace
    if not use_map_files:  # only /proc/PID/root leads to the file
        real = symbolizer.file_candidates
        monkeypatch.setattr(symbolizer, "file_candidates", lambda proc, pid, m: real(proc, pid, m)[1:])
    frame = Symbolizer().user(p.pid, [p.addrs["target"] + 1])[0]
    assert frame == Frame("bpftop_sym_target", f"{mnt}/app", 1, "user")


def test_exited_process_keeps_names_until_forgotten(start) -> None:
    exe = build("sym_pie", ("-pie", "-fPIE", "-ldl"))
    p = start([str(exe)])
    sym = Symbolizer(maps_ttl_s=0)
    assert sym.user(p.pid, [p.addrs["target"]])[0].name == "bpftop_sym_target"
    p.stop()
    # Another address of the same process, after it exited.
    assert sym.user(p.pid, [p.addrs["static"] + 1])[0] == Frame("bpftop_sym_static", str(exe), 1, "user")
    sym.forget([p.pid])
    assert sym.user(p.pid, [p.addrs["static"]]) == [Frame("", "[unknown]", p.addrs["static"], "unknown")]


def test_bad_addresses_and_pids_never_raise(start) -> None:
    exe = build("sym_pie", ("-pie", "-fPIE", "-ldl"))
    p = start([str(exe)])
    sym = Symbolizer()
    frames = sym.user(p.pid, [0, 1, 2**64 - 1, p.addrs["target"]])
    assert [f.kind for f in frames] == ["unknown", "unknown", "unknown", "user"]
    assert frames[0] == Frame("", "[unknown]", 0, "unknown")
    assert frames[0].label() == "[unknown]+0x0"
    assert sym.user(2**22 + 12345, [0x1000]) == [Frame("", "[unknown]", 0x1000, "unknown")]
    assert sym.user(p.pid, []) == []


def test_same_binary_parsed_once_for_many_processes(start) -> None:
    exe = build("sym_pie", PIE)
    procs = [start([str(exe)]) for _ in range(3)]
    sym = Symbolizer()
    for p in procs:  # each PIE process has its own load address (ASLR)
        assert sym.user(p.pid, [p.addrs["target"] + 2]) == [Frame("bpftop_sym_target", str(exe), 2, "user")]
    assert sym._binaries.loads == 1


@needs_root
def test_vdso_frames_named(start, tmp_path: Path) -> None:
    exe = build("sym_pie", PIE)
    p = start([str(exe)])
    maps = Path(f"/proc/{p.pid}/maps").read_text().splitlines()
    lo, hi = (int(x, 16) for x in next(ln for ln in maps if ln.endswith("[vdso]")).split()[0].split("-"))
    with open(f"/proc/{p.pid}/mem", "rb") as mem:  # the image, for nm to read independently
        mem.seek(lo)
        (tmp_path / "vdso.so").write_bytes(mem.read(hi - lo))
    nm = subprocess.run(["nm", "-D", str(tmp_path / "vdso.so")], capture_output=True, text=True, check=True)
    lines = nm.stdout.splitlines()
    offset = next(int(ln.split()[0], 16) for ln in lines if " __vdso_clock_gettime@" in ln)
    frame = Symbolizer().user(p.pid, [lo + offset + 1])[0]
    assert frame.name in ("__vdso_clock_gettime", "clock_gettime") and frame.offset == 1
    assert frame.module == "[vdso]" and frame.kind == "user"
