"""A rejected program's verifier log: kept whole, its reason found at its end.

The reason is found in real logs (``tests/fixtures/verifier``); a program this
kernel's verifier rejects proves that libbpf's long message arrives whole
(root); ``bpftop check -v`` prints it.
"""

from __future__ import annotations

import errno
import importlib.util
import io
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO, skip_or_fail
from rich.console import Console

from bpftop.bpf.errors import AttachError, BpfError
from bpftop.bpf.verifier import Rejection, VerifierLog, find_rejection, parse_libbpf_message
from bpftop.commands import check

LOGS = REPO / "tests" / "fixtures" / "verifier"
SOURCE = REPO / "tests" / "bpf" / "verifier_reject.bpf.c"
UNBOUNDED = re.compile(r"R\d unbounded memory access, make sure to bounds check any such access")


def _log(name: str) -> str:
    return (LOGS / name).read_text()


def test_unbounded_access_on_6_18() -> None:
    found = find_rejection("reject_unbounded", _log("linux-6.18-unbounded-access.log"))
    assert found == Rejection(
        "reject_unbounded",
        "R6 unbounded memory access, make sure to bounds check any such access",
        insn="29: r1 = *(u64 *)(r6 +0)",
        source="h->slots[slot] += 1;",
        location="verifier_reject.bpf.c:36",
    )
    assert str(found) == (
        "verifier rejected reject_unbounded: R6 unbounded memory access, make sure to bounds "
        "check any such access (at verifier_reject.bpf.c:36 `h->slots[slot] += 1;`, "
        "insn 29: r1 = *(u64 *)(r6 +0))"
    )


def test_the_head_of_the_log_is_not_the_reason() -> None:
    text = _log("linux-6.18-unbounded-access.log")
    assert text.startswith("arg#0 reference type")  # what a cut log showed
    assert "arg#0" not in str(find_rejection("reject_unbounded", text))


def test_states_dumped_after_the_reason_are_skipped() -> None:
    found = find_rejection("spin", _log("linux-6.18-infinite-loop.log"))
    assert found.sentence == "infinite loop detected at insn 3"
    assert (found.source, found.location) == ("while (!stop)", "loop.bpf.c:7")


def test_back_edge_on_6_1_has_indexed_source_lines() -> None:
    found = find_rejection("block_rq_complete_raw", _log("debian-6.1-back-edge.log"))
    assert found == Rejection(
        "block_rq_complete_raw",
        "back-edge from insn 209 to 210",
        source="__u64 slot = log2_u64(times / 1000);",
    )
    assert str(found) == (
        "verifier rejected block_rq_complete_raw: back-edge from insn 209 to 210 "
        "(at `__u64 slot = log2_u64(times / 1000);`)"
    )


def test_unbounded_min_on_6_1() -> None:
    found = find_rejection("sys_exit_raw", _log("debian-6.1-unbounded-min-tail.log"))
    assert found == Rejection(
        "sys_exit_raw",
        "math between map_value pointer and register with unbounded min value is not allowed",
        insn="123: r1 += r2",
        source="h->slots[slot] += 1;",
        location="syscalls.bpf.c:108",
    )


def test_a_log_without_instructions() -> None:
    # From a selftest failure reported on the bpf list (LLVM 19, Feb 2024).
    text = (
        "combined stack size of 4 calls is 544. Too large\n"
        "verification time 1344153 usec\n"
        "stack depth 24+440+0+32\n"
        "processed 51008 insns (limit 1000000) max_states_per_insn 19 total_states 1467 "
        "peak_states 303 mark_read 146\n"
    )
    assert str(find_rejection("on_event", text)) == (
        "verifier rejected on_event: combined stack size of 4 calls is 544. Too large"
    )


def test_libbpf_poisoned_instruction_is_the_instruction() -> None:
    text = (
        "; x = BPF_CORE_READ(t, field); @ a.bpf.c:9\n"
        "5: <invalid CO-RE relocation>\n"
        "failed to resolve CO-RE relocation <byte_off> [7] struct task_struct.no_field (0:99)\n"
        "processed 6 insns (limit 1000000)\n"
    )
    found = find_rejection("p", text)
    assert found.insn == "5: <invalid CO-RE relocation>"
    assert found.source == "x = BPF_CORE_READ(t, field);"


def test_libbpf_message_carries_the_log() -> None:
    body = _log("debian-6.1-back-edge.log")
    header = "libbpf: prog 'block_rq_complete_raw': -- BEGIN PROG LOAD LOG --"
    message = f"{header}\n{body}-- END PROG LOAD LOG --\n"
    assert parse_libbpf_message(message) == VerifierLog("block_rq_complete_raw", body.rstrip("\n"))
    assert parse_libbpf_message("libbpf: prog 'x': failed to load: -22") is None


def test_error_says_the_reason_not_the_errno() -> None:
    load_log = VerifierLog("block_rq_complete_raw", _log("debian-6.1-back-edge.log"))
    err = BpfError("load biolat.bpf.o", -errno.EACCES, "libbpf: failed to load object", (load_log,))
    assert str(err) == f"load biolat.bpf.o: {load_log.rejection()}"
    assert "lockdown" not in err.hint  # EACCES here is the verifier's, not a permission
    assert "bpftop check -v" in err.hint


def test_check_takes_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(check, "run_check", lambda verbose=False: seen.append(verbose) or 0)
    assert check.check_main(["-v"]) == 0
    assert check.check_main([]) == 0
    assert seen == [True, False]


@pytest.fixture(scope="session")
def reject_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tests/bpf/verifier_reject.bpf.c`` compiled with the project's flags."""
    if not (shutil.which("clang") and shutil.which("llvm-strip")):
        skip_or_fail("clang or llvm-strip not found: they compile the verifier test object")
    spec = importlib.util.spec_from_file_location("build_bpf", REPO / "scripts" / "build_bpf.py")
    assert spec and spec.loader
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return Path(builder.compile_one(SOURCE, tmp_path_factory.mktemp("bpf"), "clang", "llvm-strip"))


@pytest.mark.bpf
def test_rejection_reaches_the_error_whole(reject_obj: Path) -> None:
    from bpftop.bpf.object import BpfObject

    with pytest.raises(AttachError) as info:
        BpfObject.open("verifier_reject", path=reject_obj, methods=("raw_tp",))
    err = info.value
    (load_log,) = err.load_logs
    assert load_log.program == "reject_unbounded"
    # Far longer than the 4 KB one message was cut to: the reason was lost.
    assert len(load_log.text) > 4 * 4096
    lines = load_log.text.splitlines()
    # Its head (6.1 words the first line "reg type unsupported for arg#0 ...")...
    assert lines[0].startswith(("arg#0", "reg type unsupported for arg#0", "0: R1=ctx"))
    assert lines[-1].startswith("processed ")  # ...and its end
    reason = err.tried["raw_tp"]
    assert reason.startswith("load verifier_reject.bpf.o: verifier rejected reject_unbounded: ")
    assert UNBOUNDED.search(reason)
    assert "`h->slots[slot] += 1;`" in reason  # the source line
    assert "EACCES" not in reason
    assert "bpftop check -v" in err.hint


class _RejectedCollector:
    """A collector whose only object the verifier rejects."""

    hooks = ()
    method = ""
    tried: dict[str, str] = {}
    path = Path()

    def open(self, _filters: object) -> None:
        from bpftop.bpf.object import BpfObject

        BpfObject.open("verifier_reject", path=self.path, methods=("raw_tp",))

    def close(self) -> None:
        pass


@pytest.mark.bpf
def test_check_shows_the_reason_and_with_v_the_log(reject_obj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_RejectedCollector, "path", reject_obj)
    monkeypatch.setattr(check, "COLLECTORS", {"rejected": _RejectedCollector})
    for verbose in (False, True):
        out = io.StringIO()
        assert check.run_check(Console(file=out, width=400), verbose=verbose) == 1
        text = out.getvalue()
        assert "verifier rejected reject_unbounded" in text
        assert "h->slots[slot] += 1;" in text  # no markup ate "[slot]"
        assert ("verifier log of reject_unbounded" in text) == verbose
        assert ("processed " in text) == verbose
        assert ("; int reject_unbounded(void *ctx)" in text) == verbose
