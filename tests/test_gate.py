"""The ``bpf`` marker's gate: which collectors a test is gated on (no root)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from conftest import bpf_problem, gated_collectors


def _item(stem: str, *args: str) -> pytest.Item:
    marker = pytest.mark.bpf(*args).mark if args else pytest.mark.bpf.mark
    fake = SimpleNamespace(path=Path(f"tests/{stem}.py"), get_closest_marker=lambda _: marker)
    return cast(pytest.Item, fake)


@pytest.mark.parametrize(
    ("stem", "args", "gates"),
    [
        ("test_biolat_bpf", (), ("biolat",)),
        ("test_stacks_perf", (), ("stacks",)),
        ("test_loader", ("syscalls",), ("syscalls",)),
        ("test_disasm_bpftool", ("syscalls", "biolat"), ("syscalls", "biolat")),
        ("test_biolat_bpf", ("syscalls",), ("syscalls",)),  # the marker wins
        ("test_hangup", (), ()),  # the whole app: any BPF will do
        ("test_biolat", (), ()),
    ],
)
def test_gates(stem: str, args: tuple[str, ...], gates: tuple[str, ...]) -> None:
    assert gated_collectors(_item(stem, *args)) == gates


def test_a_misspelt_collector_is_an_error() -> None:
    with pytest.raises(AssertionError, match="biolta"):
        gated_collectors(_item("test_x", "biolta"))


def test_one_failing_gate_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    import conftest

    monkeypatch.setattr(conftest.os, "geteuid", lambda: 0)
    monkeypatch.setattr(conftest, "_probe_collector", lambda name: "no" if name == "biolat" else "")
    problems = {"": ""}
    assert bpf_problem(problems, ("biolat",)) == "no"
    assert bpf_problem(problems, ("syscalls", "runqlat")) == ""
    assert bpf_problem(problems, ("syscalls", "biolat")) == "no"
    assert problems == {"": "", "biolat": "no", "syscalls": "", "runqlat": ""}
