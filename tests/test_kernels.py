"""Run-time side of the minimum-kernel table: release parsing, messages, `bpftop check`."""

from __future__ import annotations

import pytest

from bpftop import kernels
from bpftop.commands import check
from bpftop.registry import STEMS

TABLE = {
    "objects": {
        "tcp": {
            "families": {
                "tp_btf": {"min": "5.12", "why": ["atomic fetch-and-op"]},
                "raw_tp": {"min": "5.12", "why": ["atomic fetch-and-op"]},
            }
        },
        "profile": {"families": {"perf_event": {"min": "5.4", "why": ["CO-RE relocations (kernel BTF)"]}}},
        "offcpu": {
            "families": {
                "tp_btf": {"min": "5.5", "why": ["BPF_PROG_TYPE_TRACING (tp_btf)"]},
                "raw_tp": {"min": "5.8", "why": ["BPF_MAP_TYPE_RINGBUF"]},
            }
        },
    }
}


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("5.14.0-427.el9.x86_64", (5, 14)),  # RHEL 9
        ("6.1.0-57-amd64", (6, 1)),  # Debian 12
        ("5.15.0-91-generic", (5, 15)),  # Ubuntu 22.04
        ("5.10.0-28-cloud-amd64", (5, 10)),  # Debian 11
        ("6.18.0-rc3+", (6, 18)),
        ("4.18.0-553.el8_10.x86_64", (4, 18)),
        ("weird", None),
        ("", None),
    ],
)
def test_parse_release(release, version):
    assert kernels.parse_release(release) == version


def test_older_kernel_gets_the_reason():
    message = kernels.too_old("tcp", "5.10.0-28-amd64", TABLE)
    assert message == (
        "needs Linux 5.12 for atomic fetch-and-op (this kernel reports 5.10; "
        "distribution kernels may have it backported)"
    )


@pytest.mark.parametrize("release", ["5.12.0", "5.14.0-427.el9.x86_64", "6.18.0", "unparsable"])
def test_new_enough_or_unknown_kernel_says_nothing(release):
    assert kernels.too_old("tcp", release, TABLE) == ""


def test_unknown_collector_says_nothing():
    assert kernels.too_old("nosuch", "3.10.0", TABLE) == ""
    assert kernels.too_old("tcp", "3.10.0", {}) == ""


def test_lowest_family_over_every_object_counts():
    # stacks loads profile and offcpu; it runs when either does.
    need = kernels.minimum("stacks", TABLE)
    assert need is not None
    assert (need.text, need.obj, need.family) == ("5.4", "profile", "perf_event")
    assert kernels.too_old("stacks", "5.4.0-150-generic", TABLE) == ""
    assert kernels.too_old("stacks", "5.3.0", TABLE).startswith("needs Linux 5.4 for CO-RE")


def test_packaged_table_covers_every_collector():
    for collector in STEMS:
        need = kernels.minimum(collector)
        assert (need is None) == (collector == "bpfstats"), collector
    tcp = kernels.minimum("tcp")
    assert tcp is not None and tcp.version >= (5, 8)  # the ring buffer


def test_collector_with_a_fallback_is_never_too_old():
    # Without its task_file iterator (5.8) bpfstats scans /proc: the kernel is not why it failed.
    assert kernels.too_old("bpfstats", "5.4.0-150-generic") == ""


class _FailingCollector:
    method = ""
    tried = {"tp_btf": "load tcp.bpf.o (tp_btf): Invalid argument; verifier: 0: (85) call ..."}

    def open(self, filters):
        raise OSError("cannot load tcp")

    def close(self):
        pass


def test_check_row_says_needs_linux_on_an_older_kernel(monkeypatch):
    monkeypatch.setattr(check, "COLLECTORS", {"tcp": _FailingCollector})
    monkeypatch.setattr(kernels.platform, "release", lambda: "5.10.0-28-amd64")
    (row,) = check.collector_rows(can_load=True)
    assert row.ok is False
    assert row.detail.startswith("needs Linux 5.12 for ")
    assert "this kernel reports 5.10" in row.detail
    assert "verifier" not in row.detail


def test_check_row_keeps_the_errors_on_a_new_kernel(monkeypatch):
    monkeypatch.setattr(check, "COLLECTORS", {"tcp": _FailingCollector})
    monkeypatch.setattr(kernels.platform, "release", lambda: "6.18.0")
    (row,) = check.collector_rows(can_load=True)
    assert not row.detail.startswith("needs Linux")
    assert "cannot load tcp" in row.detail and "verifier" in row.detail
