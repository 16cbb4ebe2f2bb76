"""The committed BPF objects match their sources, and the sources compile."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_manifest_matches_sources():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_bpf.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, f"BPF objects are stale; run `make build-bpf`:\n{result.stderr}"


def test_every_source_has_a_committed_object():
    c_dir = ROOT / "bpftop" / "c"
    for source in c_dir.glob("*.bpf.c"):
        assert (c_dir / (source.name[:-2] + ".o")).exists(), source.name


def test_sources_compile_with_clang(tmp_path):
    if not (shutil.which("clang") and shutil.which("llvm-strip")):
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail("clang/llvm-strip missing: CI must prove the BPF sources compile")
        pytest.skip("clang not installed")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_bpf.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "syscalls.bpf.o").stat().st_size > 0
