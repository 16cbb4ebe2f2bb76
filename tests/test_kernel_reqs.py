"""The static minimum-kernel table: current with the objects, and its detector finds known needs."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bpf_scan  # noqa: E402 - scripts/ is not a package
import kernel_reqs  # noqa: E402
from bpf_object import Insn, ObjectError  # noqa: E402

C_DIR = ROOT / "bpftop" / "c"


def _analyze(stem: str) -> dict:
    return kernel_reqs.analyze(C_DIR / f"{stem}.bpf.o", kernel_reqs.optional_hooks().get(stem, ()))


def _version(text: str) -> tuple[int, ...]:
    return kernel_reqs.version_key(text)


def test_committed_table_matches_objects():
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "kernel_reqs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, f"kernels.json or docs are stale; run `make kernel-reqs`:\n{result.stderr}"


def test_docs_table_is_the_committed_json():
    data = json.loads((C_DIR / "kernels.json").read_text())
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert kernel_reqs.BEGIN + "\n" + kernel_reqs.markdown(data) + kernel_reqs.END in doc


def test_tcp_ring_buffer_needs_5_8():
    tcp = _analyze("tcp")
    assert tcp["features"]["BPF_MAP_TYPE_RINGBUF"] == "5.8"
    assert tcp["features"]["bpf_ringbuf_reserve"] == "5.8"
    for family in ("tp_btf", "raw_tp", "tracepoint"):
        assert _version(tcp["families"][family]["min"]) >= (5, 8)


def test_cmpxchg_max_needs_5_12():
    # bits.bpf.h's atomic_max_u64 is a bounded cmpxchg loop.
    for stem in ("syscalls", "sched"):
        families = _analyze(stem)["families"]
        assert {f["min"] for f in families.values()} == {"5.12"}
        assert all("atomic xchg/cmpxchg" in f["why"] for f in families.values())
        assert "bounded loops" in _analyze(stem)["features"]


def test_program_types_and_families():
    assert _analyze("bpfstats")["families"]["iter/task_file"]["min"] == "5.8"
    assert list(_analyze("profile")["families"]) == ["perf_event"]
    biolat = _analyze("biolat")["families"]
    assert list(biolat) == ["tp_btf", "raw_tp", "tracepoint"]
    assert biolat["tp_btf"]["min"] == "5.5"
    assert "BPF_PROG_TYPE_TRACING (tp_btf)" in biolat["tp_btf"]["why"]


def test_optional_hooks_do_not_count():
    biolat = _analyze("biolat")["families"]["raw_tp"]
    assert {o["hook"] for o in biolat["optional"].values()} == {"block_io_start", "block_rq_merge"}
    assert not any("block_io_start" in p for p in biolat["programs"])


def test_libbpf_fallback_dates_the_old_helper():
    features = _analyze("sched")["features"]
    assert features["bpf_probe_read_kernel (libbpf falls back to bpf_probe_read)"] == "4.1"


def test_unknown_helper_stops_the_script(monkeypatch):
    monkeypatch.delitem(bpf_scan.HELPERS, "ringbuf_reserve")
    with pytest.raises(ObjectError, match="ringbuf_reserve"):
        _analyze("tcp")


def test_subprograms_and_callbacks_count(tmp_path):
    if not (shutil.which("clang") and shutil.which("llvm-strip")):
        if os.environ.get("BPFTOP_REQUIRE_BPF") == "1":
            pytest.fail("clang/llvm-strip missing: CI must prove the detector on a compiled object")
        pytest.skip("clang not installed")
    spec = importlib.util.spec_from_file_location("build_bpf", SCRIPTS / "build_bpf.py")
    assert spec and spec.loader
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    source = ROOT / "tests" / "bpf" / "kernel_reqs_test.bpf.c"
    families = kernel_reqs.analyze(builder.compile_one(source, tmp_path, "clang", "llvm-strip"))["families"]
    # kreq_raw only calls a .text subprogram, which hands a callback to bpf_loop.
    assert families["raw_tp"] == {"min": "5.17", "why": ["bpf_loop"], "programs": ["kreq_raw"]}
    assert families["tracepoint"]["min"] == "5.2"  # its global: the raw_tp needs do not leak here


def _ins(opcode: int, off: int = 0, imm: int = 0, src: int = 0) -> Insn:
    return Insn(opcode, 0, src, off, imm)


EXIT, ADD_IMM, JLT_IMM, JA = 0x95, 0x07, 0xA5, 0x05


def test_cycle_is_a_loop_not_a_backward_jump():
    loop = [_ins(ADD_IMM, imm=1), _ins(JLT_IMM, off=-2, imm=10), _ins(EXIT)]
    assert bpf_scan._has_cycle(loop)
    # A backward jump to code laid out earlier, but no cycle: the verifier accepts it before 5.3.
    backward = [_ins(JA, off=1), _ins(EXIT), _ins(JA, off=-2)]
    assert not bpf_scan._has_cycle(backward)


@pytest.mark.parametrize(
    ("insn", "feature"),
    [
        (_ins(0x16, off=3), "JMP32 instructions"),  # if w0 == imm goto
        (_ins(0xDB, imm=0xF1), "atomic xchg/cmpxchg"),  # cmpxchg_64
        (_ins(0xDB, imm=0x01), "atomic fetch-and-op"),  # atomic_fetch_add
        (_ins(0xDB, imm=0x00), "atomic add"),  # lock *(u64 *) += r
        (_ins(0xBF, off=8), "cpu v4 instructions"),  # r0 = (s8)r1
        (_ins(0x06, imm=5), "cpu v4 instructions"),  # gotol
    ],
)
def test_instruction_features(insn, feature):
    scanner = bpf_scan.Scanner.__new__(bpf_scan.Scanner)
    found: dict[str, str] = {}
    scanner._plain(insn, found)
    assert found == {feature: bpf_scan.INSNS[feature][0]}
