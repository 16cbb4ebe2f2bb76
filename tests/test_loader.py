"""The libbpf loader: precise errors, attach fallbacks, globals, map dumps, logging."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import workloads
from conftest import REPO, skip_or_fail

from bpftop.bpf.errors import AttachError, BpfError
from bpftop.bpf.maps import BpfMap
from bpftop.bpf.object import METHODS, BpfObject
from bpftop.collectors.base import Filters
from bpftop.collectors.syscalls import SyscallsCollector
from bpftop.frame import CollectorStatus
from bpftop.privileges import NOT_ROOT_HINT

TEST_BPF = REPO / "tests" / "bpf"
VMLINUX_DIR = REPO / "bpftop" / "c" / "vmlinux"
ARCH_DEFINES = {"x86_64": "x86", "aarch64": "arm64"}
MISSING_HOOK = "bpftop_test_no_such_hook"


@pytest.fixture(scope="session")
def missing_hook_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tests/bpf/missing_hook.bpf.c`` compiled with clang (never committed)."""
    clang = shutil.which("clang")
    if clang is None:
        skip_or_fail("clang not found: it compiles the loader's test BPF object")
    arch = platform.machine()
    vmlinux = VMLINUX_DIR / arch
    if not (vmlinux / "vmlinux.h").exists():
        skip_or_fail(f"no vmlinux.h for {arch} under {VMLINUX_DIR}")
    out = tmp_path_factory.mktemp("bpf") / "missing_hook.bpf.o"
    target = f"-D__TARGET_ARCH_{ARCH_DEFINES.get(arch, 'x86')}"
    cmd = [clang, "-g", "-O2", "-target", "bpf", "-mcpu=v3", target, f"-I{vmlinux}", "-Wall", "-Werror"]
    cmd += ["-c", str(TEST_BPF / "missing_hook.bpf.c"), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"clang failed:\n{proc.stderr}")
    return out


@pytest.fixture
def syscalls_obj() -> Iterator[BpfObject]:
    obj = BpfObject.open("syscalls")
    yield obj
    obj.close()


def test_missing_object_is_named() -> None:
    with pytest.raises(BpfError) as info:
        BpfObject.open("no_such_collector")
    message = str(info.value)
    assert "no_such_collector.bpf.o is missing" in message
    assert "build-bpf" in message
    assert not isinstance(info.value, AttachError)


@pytest.mark.bpf
def test_attach_error_lists_each_method(missing_hook_obj: Path) -> None:
    with pytest.raises(AttachError) as info:
        BpfObject.open("missing_hook", path=missing_hook_obj, methods=METHODS)
    err = info.value
    assert list(err.tried) == list(METHODS)  # tried in preference order
    # Each family fails at its own step, and says so.
    assert err.tried["tp_btf"].startswith(f"kernel BTF has no btf_trace_{MISSING_HOOK}")
    assert err.tried["raw_tp"].startswith("attach no_such_raw: ENOENT")
    assert MISSING_HOOK in err.tried["raw_tp"]  # libbpf's own words are quoted
    assert err.tried["tracepoint"].startswith("attach no_such_tp: ENOENT")
    assert "bpftop_test/no_such_hook" in err.tried["tracepoint"]
    message = str(err)
    assert message.startswith("cannot load missing_hook (")
    for method in METHODS:
        assert f"{method}: " in message


@pytest.mark.bpf
def test_attach_error_with_one_method(missing_hook_obj: Path) -> None:
    with pytest.raises(AttachError) as info:
        BpfObject.open("missing_hook", path=missing_hook_obj, methods=("tp_btf",))
    assert list(info.value.tried) == ["tp_btf"]
    assert f"btf_trace_{MISSING_HOOK}" in info.value.tried["tp_btf"]


def test_only_optional_hooks_can_be_left_out() -> None:
    with pytest.raises(ValueError, match="sock_send_length"):
        BpfObject.open("tcp", optional=("sock_recv_length",), leave_out=("sock_send_length",))


@pytest.mark.bpf("tcp")
def test_left_out_hooks_are_skipped_as_if_missing() -> None:
    hooks = ("sock_send_length", "sock_recv_length")
    with BpfObject.open("tcp", methods=("raw_tp",), optional=hooks) as full:
        # Linux < 6.3 has neither hook: they are skipped there anyway.
        assert full.skipped in ([], list(hooks)) and len(full.program_ids()) == 6 - len(full.skipped)
    with BpfObject.open("tcp", methods=("raw_tp",), optional=hooks, leave_out=hooks) as old:
        assert sorted(old.skipped) == sorted(hooks) and len(old.program_ids()) == 4


@pytest.mark.bpf("syscalls")
def test_unknown_rodata_variable() -> None:
    with pytest.raises(AttachError) as info:
        BpfObject.open("syscalls", rodata={"no_such_knob": 1}, methods=("raw_tp",))
    assert "no const volatile variable 'no_such_knob'" in info.value.tried["raw_tp"]


@pytest.mark.bpf("syscalls")
def test_set_global(syscalls_obj: BpfObject) -> None:
    bss = syscalls_obj.map(".bss")  # libbpf finds internal maps by section name
    zero_key = bytes(4)
    assert bss.lookup(zero_key) == bytes(bss.value_size)
    syscalls_obj.set_global("focus_tgid", 0x12345678)
    syscalls_obj.set_global("timing", 7)
    # .bss holds focus_tgid then timing, 4 bytes each.
    assert bss.lookup(zero_key) == (0x12345678).to_bytes(4, "little") + (7).to_bytes(4, "little")
    syscalls_obj.set_global("focus_tgid", 0)
    assert bss.lookup(zero_key) == bytes(4) + (7).to_bytes(4, "little")


@pytest.mark.bpf("syscalls")
def test_set_unknown_global_is_a_bpf_error(syscalls_obj: BpfObject) -> None:
    with pytest.raises(BpfError, match=r"no global variable 'no_such_var' in \.bss"):
        syscalls_obj.set_global("no_such_var", 1)


def _as_dict(m: BpfMap, batch: bool) -> dict[bytes, bytes]:
    m._batch_ok = batch
    dump = m.dump()
    assert m._batch_ok == batch  # the batch path really ran (or really did not)
    keys = [dump.keys[i * dump.key_size : (i + 1) * dump.key_size] for i in range(dump.count)]
    values = [dump.values[i * dump.value_stride : (i + 1) * dump.value_stride] for i in range(dump.count)]
    assert len(set(keys)) == dump.count  # no entry twice
    return dict(zip(keys, values, strict=True))


@pytest.mark.bpf("syscalls")
def test_batch_and_iteration_dumps_agree(workload_exe: Path) -> None:
    # Filtered to a child that is blocked in read() while we dump: every map
    # holds still, so two reads by different paths must give the same bytes.
    with workloads.start("close_bad", 500, exe=workload_exe) as wl:
        collector = SyscallsCollector()
        collector.open(Filters(pid=wl.pid))
        try:
            collector.set_focus(wl.pid)
            wl.run()
            obj = collector._obj
            for name in ("hists", "focus_hists", "procs", "errnos", "counters", "start"):
                m = obj.map(name)
                batched = _as_dict(m, batch=True)
                iterated = _as_dict(m, batch=False)
                assert batched == iterated, name
                assert batched, f"{name} is empty: the comparison would prove nothing"
        finally:
            collector.close()


_FAILING_LOAD = """
import sys
from pathlib import Path
from bpftop.bpf.errors import AttachError
from bpftop.bpf.object import BpfObject
try:
    BpfObject.open("missing_hook", path=Path(sys.argv[1]))
except AttachError as exc:
    print("raised:", exc)
"""


@pytest.mark.bpf
def test_libbpf_warnings_never_reach_stderr(missing_hook_obj: Path) -> None:
    # A fresh interpreter with no logging configured, as the TUI starts: Python
    # would print unhandled warnings to stderr through logging.lastResort.
    proc = subprocess.run(
        [sys.executable, "-c", _FAILING_LOAD, str(missing_hook_obj)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.stdout.startswith("raised: cannot load missing_hook"), proc.stderr
    assert "failed to attach to raw tracepoint" in proc.stdout  # quoted in the error...
    assert proc.stderr == ""  # ...and nothing scribbled on the terminal


@pytest.mark.bpf
def test_libbpf_warnings_go_to_logging(
    missing_hook_obj: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="bpftop.libbpf"), pytest.raises(AttachError):
        BpfObject.open("missing_hook", path=missing_hook_obj)
    assert capfd.readouterr().err == ""
    libbpf = [r.getMessage() for r in caplog.records if r.name == "bpftop.libbpf"]
    assert any("failed to attach to raw tracepoint" in line for line in libbpf)


def test_not_root_is_a_status_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpftop.engine

    reason = "not root: loading BPF programs needs privileges"
    monkeypatch.setattr(bpftop.engine, "privilege_problem", lambda: reason)
    engine = bpftop.engine.Engine(["syscalls"], Filters())
    try:
        status = engine.open()
    finally:
        engine.close()
    assert status == (CollectorStatus("syscalls", False, error=reason, hint=NOT_ROOT_HINT),)
    assert not engine.any_running


@pytest.mark.bpf("syscalls")
def test_missing_btf_falls_back_to_raw_tp(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpftop.bpf.btf
    import bpftop.bpf.object

    # object.py imported the name, so patch it where it is looked up too.
    monkeypatch.setattr(bpftop.bpf.btf, "has_btf_tracepoint", lambda name: False)
    monkeypatch.setattr(bpftop.bpf.object, "has_btf_tracepoint", lambda name: False)
    obj = BpfObject.open("syscalls")
    try:
        assert obj.method == "raw_tp"
        assert list(obj.tried) == ["tp_btf"]
        assert obj.tried["tp_btf"].startswith("kernel BTF has no btf_trace_sys_enter")
    finally:
        obj.close()


@pytest.mark.bpf("syscalls")
def test_delete_many_keys_in_batches_skipping_missing_ones(syscalls_obj: BpfObject) -> None:
    procs = syscalls_obj.map("procs")  # LRU hash by (tgid, nr): batch delete works on it

    def key(i: int) -> bytes:
        return (4_000_000_000 + i).to_bytes(4, "little") + (7).to_bytes(4, "little")  # no such tgid

    for i in range(10):
        procs.update(key(i), bytes(procs.value_size))
    # The kernel stops a batch at a missing key; the rest must still go.
    assert procs.delete([key(i) for i in range(5)] + [key(100)] + [key(5), key(6)]) == 7
    assert procs._delete_batch_ok  # the batch call did it, not the key-by-key fallback
    assert [procs.lookup(key(i)) is None for i in range(10)] == [True] * 7 + [False] * 3
    procs._delete_batch_ok = False  # the fallback agrees
    assert procs.delete([key(7), key(200), key(8), key(9)]) == 3
    assert all(procs.lookup(key(i)) is None for i in range(10))
    assert procs.delete([]) == 0


@pytest.mark.bpf("stacks")
def test_delete_falls_back_where_a_map_type_has_no_batch_delete() -> None:
    with BpfObject.open("profile") as obj:  # loaded, never attached to an event
        stacks = obj.map("stacks")  # BPF_MAP_TYPE_STACK_TRACE
        assert stacks.delete([(i).to_bytes(4, "little") for i in range(3)]) == 0
        assert not stacks._delete_batch_ok
