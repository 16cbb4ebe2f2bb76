"""``bpftop check``: what this machine supports, and what each collector will use.

Exit status 0 when at least one collector can run, 1 otherwise. A program the
verifier rejected is reported by the reason at its log's end; ``-v`` also
prints each rejected program's whole verifier log.
"""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bpftop.bpf.verifier import VerifierLog
from bpftop.collectors.base import Filters
from bpftop.engine import COLLECTORS
from bpftop.privileges import CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, NOT_ROOT_HINT, effective_caps

BTF_PATH = Path("/sys/kernel/btf/vmlinux")
BPFFS = Path("/sys/fs/bpf")


@dataclass(frozen=True)
class CheckRow:
    """One line of the report: what, whether it is fine, and the detail."""

    item: str
    ok: bool | None  # None: informational
    detail: str
    load_logs: tuple[VerifierLog, ...] = field(default=(), compare=False)  # `-v` prints them


def _privileges() -> CheckRow:
    caps = effective_caps()
    names = [
        n
        for n, b in (("CAP_SYS_ADMIN", CAP_SYS_ADMIN), ("CAP_BPF", CAP_BPF), ("CAP_PERFMON", CAP_PERFMON))
        if caps & (1 << b)
    ]
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    from bpftop.privileges import can_load_bpf

    ok = can_load_bpf(caps)
    return CheckRow("privileges", ok, f"{who}; {', '.join(names) or 'no BPF capabilities'}")


def _mounted(fs_type: str) -> str:
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[2] == fs_type:
                return parts[1]
    except OSError:
        pass
    return ""


def system_rows() -> list[CheckRow]:
    """Privileges, kernel, BTF, filesystems, libbpf, PMU and BPF stats."""
    rows = [_privileges(), CheckRow("kernel", None, f"{platform.release()} {platform.machine()}")]
    rows.append(
        CheckRow(
            "BTF",
            BTF_PATH.exists(),
            str(BTF_PATH)
            if BTF_PATH.exists()
            else "missing: CO-RE needs a kernel built with CONFIG_DEBUG_INFO_BTF=y",
        )
    )
    tracefs = _mounted("tracefs")
    rows.append(
        CheckRow("tracefs", None, tracefs or "not mounted (bpftop mounts it if a tracepoint needs it)")
    )
    bpffs = _mounted("bpf")
    rows.append(CheckRow("bpffs", None, bpffs or "not mounted (not needed: bpftop pins nothing)"))
    try:
        from bpftop.bpf import probe

        rows.append(CheckRow("libbpf", True, f"libbpf.so.1 version {probe.libbpf_version()}"))
        rows.append(_pmu_row(probe.hardware_pmu()))
        stats, how = probe.bpf_stats()
        rows.append(CheckRow("BPF run-time stats", stats, how))
    except Exception as exc:  # libbpf missing: say so, keep going
        rows.append(CheckRow("libbpf", False, str(exc)))
    return rows


def _pmu_row(probed: tuple[bool, str]) -> CheckRow:
    """Which PMUs the kernel lists and whether a cycles counter opens (pmc pane)."""
    from bpftop.bpf.pmu import NO_PMU, describe_pmus

    core, pmus = describe_pmus()
    opened, why = probed
    if opened:
        return CheckRow("PMU", True, f"hardware counters available; {pmus}")
    if not core:  # the pmc pane falls back to software counters
        return CheckRow("PMU", False, pmus)
    return CheckRow("PMU", False, f"{pmus}; cycles cannot be opened: {why.replace(NO_PMU, 'unsupported')}")


def collector_rows(can_load: bool) -> list[CheckRow]:
    """For each collector: its hooks and the attach method a real load picks."""
    from bpftop.bpf.btf import has_btf_tracepoint
    from bpftop.bpf.log import collect_load_logs
    from bpftop.bpf.probe import raw_tracepoint_exists
    from bpftop.bpf.tracefs import tracepoint_exists

    rows = []
    for name, factory in COLLECTORS.items():
        collector = factory()
        hooks = []
        for category, tp in getattr(collector, "hooks", ()):
            btf = "tp_btf" if has_btf_tracepoint(tp) else "no tp_btf"
            exists = tracepoint_exists(category, tp)
            tp_state = {True: "tracepoint", False: "no tracepoint", None: "tracepoint ?"}[exists]
            raw = {True: "raw_tp", False: "no raw_tp", None: "raw_tp ?"}[raw_tracepoint_exists(category, tp)]
            hooks.append(f"{category}:{tp} ({btf}, {raw}, {tp_state})")
        if not can_load:
            hooked = f"{'; '.join(hooks)} — " if hooks else ""
            rows.append(CheckRow(f"collector {name}", False, f"{hooked}not loaded: no privileges"))
            continue
        with collect_load_logs() as load_logs:
            try:
                collector.open(Filters())
                detail = f"attached via {collector.method}"
                extra = getattr(collector, "detail", "")  # e.g. how biolat finds the submitter
                if extra:
                    detail += f" ({extra})"
                ok = True
            except Exception as exc:  # report every reason, never raise
                detail, ok = f"cannot load: {exc}", False
            finally:
                collector.close()
        tried = getattr(collector, "tried", None)
        if tried:
            detail += " (fell back: " + "; ".join(f"{m}: {r}" for m, r in tried.items()) + ")"
        detail = _too_old(name, ok) or detail
        if hooks:  # the bpf pane's collector has none: no "hooks:" with nothing after it (issue 17)
            detail += f"; hooks: {'; '.join(hooks)}"
        rows.append(CheckRow(f"collector {name}", ok, detail, tuple(load_logs)))
    return rows


def _too_old(name: str, ok: bool) -> str:
    """Say "needs Linux X.Y for Z" for a collector that failed on a kernel older than it needs.

    It replaces the loader's errors (verifier logs of every family), which on
    such a kernel only restate what is missing; "" when the collector loaded
    or the kernel is new enough, where those errors are the news.
    """
    if ok:
        return ""
    from bpftop.kernels import too_old

    return too_old(name)


def _print_load_logs(console: Console, rows: list[CheckRow]) -> None:
    """``-v``: each rejected program's whole verifier log, after the table."""
    for row in rows:
        for load_log in row.load_logs:
            console.rule(Text(f"{row.item}: verifier log of {load_log.program}"))
            # As the kernel wrote it: no wrapping, no markup, fast at megabytes.
            console.file.write(load_log.text + "\n")


def check_main(argv: list[str]) -> int:
    """``bpftop check [-v]``: parse the arguments, print the report, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="bpftop check", description="Report what this machine supports and what each collector uses."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the whole verifier log of each rejected program",
    )
    args = parser.parse_args(argv)
    return run_check(verbose=args.verbose)


def run_check(console: Console | None = None, verbose: bool = False) -> int:
    """Print the report; return the exit status."""
    console = console or Console()
    system = system_rows()
    can_load = system[0].ok is True
    collectors = collector_rows(can_load)
    table = Table(title="bpftop check", show_lines=False)
    table.add_column("item", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    table.add_column("detail")
    for row in system + collectors:
        mark = {True: "yes", False: "NO", None: "-"}[row.ok]
        # Text, not markup: a source line such as `h->slots[slot]` is no style tag.
        table.add_row(row.item, mark, Text(row.detail))
    console.print(table)
    if verbose:
        _print_load_logs(console, collectors)
    runnable = [r for r in collectors if r.ok]
    if not can_load:
        console.print(f"hint: {NOT_ROOT_HINT}")
    console.print(f"{len(runnable)} of {len(collectors)} collectors can run")
    return 0 if runnable else 1
