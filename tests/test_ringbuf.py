"""The ring-buffer consumer delivers every event, in order (root)."""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(tmp_path: Path) -> Path:
    if not shutil.which("clang"):
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail("clang missing: needed to build the ring buffer test object")
        pytest.skip("clang not installed")
    spec = importlib.util.spec_from_file_location("build_bpf", ROOT / "scripts" / "build_bpf.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.compile_one(ROOT / "tests" / "bpf" / "ringbuf_test.bpf.c", tmp_path, "clang", "llvm-strip")


@pytest.mark.bpf
def test_ring_buffer_delivers_each_event(tmp_path):
    from bpftop.bpf.object import BpfObject
    from bpftop.bpf.ringbuf import RingBuffer

    obj_path = _build(tmp_path)
    events: list[bytes] = []
    with BpfObject.open("ringbuf_test", rodata={"targ_tgid": os.getpid()}, path=obj_path) as obj:
        with RingBuffer(obj.map("events"), events.append) as rb:
            n = 5000
            for _ in range(n):
                os.getppid()  # glibc makes the syscall every time; nothing caches it
            rb.consume()
            dropped = int.from_bytes(obj.map("dropped").lookup(b"\0\0\0\0") or b"", "little")
    from bpftop.collectors.syscalls_table import syscall_number, table_for

    nr = syscall_number("getppid", table_for())
    getppid = [e for e in events if int.from_bytes(e[4:8], "little") == nr]
    assert dropped == 0
    assert len(getppid) == n
    assert all(int.from_bytes(e[:4], "little") == os.getpid() for e in events)


@pytest.mark.bpf
def test_callback_exception_is_raised_by_poll(tmp_path):
    from bpftop.bpf.object import BpfObject
    from bpftop.bpf.ringbuf import RingBuffer

    obj_path = _build(tmp_path)

    def boom(_: bytes) -> None:
        raise ValueError("decoder bug")

    with BpfObject.open("ringbuf_test", rodata={"targ_tgid": os.getpid()}, path=obj_path) as obj:
        with RingBuffer(obj.map("events"), boom) as rb:
            os.getppid()
            with pytest.raises(ValueError, match="decoder bug"):
                rb.poll(100)
