"""Helpers shared by the collector benchmarks: the empty-program floor, BPF stats, tables."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCH_DEFINES = {"x86_64": "x86", "aarch64": "arm64"}
Attach = Callable[[], AbstractContextManager[set[int]]]  # attach a configuration, yield its program ids


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


def bpf_run_time(
    configs: Mapping[str, Attach], rounds: int, measure: Callable[[set[int]], float], per: str
) -> dict[str, list[float]] | None:
    """``rounds`` of ``measure(program ids)`` per configuration, kernel BPF run-time statistics on.

    ``nothing`` has no programs and is left out. None (and a line saying so)
    when the kernel cannot turn the statistics on.
    """
    from bpftop.bpf._ffi import lib

    stats_fd = lib().bpf_enable_stats(0)  # BPF_STATS_RUN_TIME while the fd is open
    if stats_fd < 0:
        print(f"\nBPF statistics unavailable: run time per {per} skipped")
        return None
    try:
        runtime: dict[str, list[float]] = {
            name: [] for name, attach in configs.items() if attach is not nothing
        }
        for _ in range(rounds):
            for name, results in runtime.items():
                with configs[name]() as ids:
                    results.append(measure(ids))
    finally:
        os.close(stats_fd)
    return runtime


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
