"""Tests for the generated syscall number -> name tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bpftop.collectors.syscalls_table import (
    AARCH64,
    X86_64,
    syscall_name,
    syscall_number,
    table_for,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "gen_syscall_tables.py"
HEADERS = (
    Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    Path("/usr/include/asm-generic/unistd.h"),
)


@pytest.mark.parametrize(
    ("nr", "name"),
    [
        (0, "read"),
        (1, "write"),
        (3, "close"),
        (35, "nanosleep"),
        (39, "getpid"),
        (110, "getppid"),
        (231, "exit_group"),
        (257, "openat"),
        (435, "clone3"),
        (462, "mseal"),
    ],
)
def test_x86_64_known(nr: int, name: str) -> None:
    assert syscall_name(nr, X86_64) == name
    assert syscall_number(name, X86_64) == nr


@pytest.mark.parametrize(
    ("nr", "name"),
    [
        (63, "read"),
        (64, "write"),
        (57, "close"),
        (101, "nanosleep"),
        (172, "getpid"),
        (173, "getppid"),
        (94, "exit_group"),
        (56, "openat"),
        (79, "newfstatat"),
        (435, "clone3"),
    ],
)
def test_aarch64_known(nr: int, name: str) -> None:
    assert syscall_name(nr, AARCH64) == name
    assert syscall_number(name, AARCH64) == nr


def test_unknown_number_and_name() -> None:
    assert syscall_name(9999, X86_64) == "syscall_9999"
    assert syscall_name(9999, AARCH64) == "syscall_9999"
    assert syscall_number("no_such_syscall", X86_64) is None


def test_table_for() -> None:
    assert table_for("arm64") is AARCH64
    assert table_for("aarch64") is AARCH64
    assert table_for("x86_64") is X86_64
    assert table_for("amd64") is X86_64
    assert table_for("riscv64") == {}
    assert isinstance(table_for(), dict)


def test_tables_sorted() -> None:
    assert list(X86_64) == sorted(X86_64)
    assert list(AARCH64) == sorted(AARCH64)


def test_generated_file_up_to_date() -> None:
    missing = [str(h) for h in HEADERS if not h.exists()]
    if missing:
        pytest.skip(f"kernel uapi headers not installed: {', '.join(missing)}")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
