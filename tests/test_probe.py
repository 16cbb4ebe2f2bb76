"""Feature probes on fake inputs: whether a raw tracepoint exists (no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpftop.bpf.probe import raw_tracepoint_exists

# As /proc/kallsyms lists them: a vmlinux tracepoint, a module's, and the
# event-class function that many events share (which names no event).
KALLSYMS = """\
ffffffff814246e0 T __traceiter_block_rq_issue
ffffffff81424700 T __traceiter_sched_switch
ffffffffc0a01230 t __traceiter_xfs_buf_read\t[xfs]
ffffffff813aa5a0 t __bpf_trace_block_rq
ffffffff813aa5b0 t __bpf_trace_block_bio
"""


def _never(*_: str) -> bool:
    return False


def _unknown(*_: str) -> None:
    return None


def _probe(tmp_path: Path, name: str, kallsyms: str = KALLSYMS, **kw) -> bool | None:  # type: ignore[no-untyped-def]
    path = tmp_path / "kallsyms"
    path.write_text(kallsyms)
    kw.setdefault("btf", _never)
    kw.setdefault("tracefs", _unknown)
    return raw_tracepoint_exists("block", name, kallsyms=path, **kw)


@pytest.mark.parametrize(
    ("name", "exists"),
    [
        ("block_rq_issue", True),
        ("sched_switch", True),
        ("xfs_buf_read", True),  # modules' tracepoints attach as raw_tp too
        ("block_io_start", False),  # Linux < 6.5: its class's function is no proof
        ("block_rq", False),
        ("block_bio", False),
    ],
)
def test_kallsyms_traceiter_names_the_tracepoint(tmp_path: Path, name: str, exists: bool) -> None:
    assert _probe(tmp_path, name) is exists


def test_btf_typedef_is_enough(tmp_path: Path) -> None:
    assert _probe(tmp_path, "block_io_start", btf=lambda name: name == "block_io_start") is True


def test_without_kallsyms_tracefs_tells_or_nothing_does(tmp_path: Path) -> None:
    # Zeroed addresses still name symbols; no __traceiter_ at all is a kernel
    # before 5.10 or an unreadable file: ask tracefs, which may not know either.
    assert _probe(tmp_path, "block_rq_issue", kallsyms="0000000000000000 T _text\n") is None
    assert _probe(tmp_path, "block_io_start", kallsyms="", tracefs=lambda c, n: False) is False
    assert _probe(tmp_path, "block_rq_issue", kallsyms="", tracefs=lambda c, n: True) is True


def test_real_kernel_has_sched_switch_and_no_invented_tracepoint() -> None:
    assert raw_tracepoint_exists("sched", "sched_switch") is True
    assert raw_tracepoint_exists("sched", "no_such_tracepoint_bpftop") is False
