"""Helpers shared by the collector benchmarks: the empty-program floor, BPF stats, tables."""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCH_DEFINES = {"x86_64": "x86", "aarch64": "arm64"}


def compile_empty(stem: str, out_dir: Path) -> Path:
    """Compile ``benchmarks/<stem>.bpf.c`` into ``out_dir`` (never into the tree)."""
    clang = shutil.which("clang") or sys.exit("clang not found")
    arch = platform.machine()
    obj = out_dir / f"{stem}.bpf.o"
    source = Path(__file__).with_name(f"{stem}.bpf.c")
    target = f"-D__TARGET_ARCH_{ARCH_DEFINES.get(arch, 'x86')}"
    include = f"-I{REPO / 'bpftop' / 'c' / 'vmlinux' / arch}"
    subprocess.run(
        [clang, "-g", "-O2", "-target", "bpf", target, include, "-c", str(source), "-o", str(obj)], check=True
    )
    return obj


@contextmanager
def nothing() -> Iterator[set[int]]:
    """The floor: no program attached (no program ids)."""
    yield set()


@contextmanager
def empty_programs(obj: Path) -> Iterator[set[int]]:
    """Empty programs on the collector's hooks (``compile_empty``'s object); their ids."""
    from bpftop.bpf.object import BpfObject

    with BpfObject.open(obj.name.removesuffix(".bpf.o"), path=obj, methods=("tp_btf",)) as bpf:
        yield set(bpf.program_ids())


def prog_stats() -> dict[int, tuple[str, int, int]]:
    """id -> (name, run_time_ns, run_cnt) of every loaded program."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True, check=True).stdout
    return {
        p["id"]: (p.get("name", ""), p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in json.loads(out)
    }


def print_table(title: str, results: dict[str, list[float]], unit: str) -> dict[str, float]:
    """Print the median and spread of each configuration; return the medians."""
    median = {name: statistics.median(v) for name, v in results.items()}
    print(f"\n{title}")
    print(f"{'configuration':36} {unit:>11}   spread")
    for name, value in median.items():
        print(f"{name:36} {value:11.1f}   [{min(results[name]):.1f}-{max(results[name]):.1f}]")
    return median
