"""The procs table's columns: one definition per field, shown by the procs pane and ``bpftop -b``.

The pane lists ``COLUMNS`` (its widths and ``shown_from`` fit 80 to 160
cells); the batch table picks the same columns by key, plus ``DISK_IOS``,
which only it has room for.
"""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter

from bpftop.derive.procs import ProcsRow
from bpftop.display import Col, ns_col, rate_col, rate_order
from bpftop.fmt import fmt_bytes, fmt_pct, fmt_rate, fmt_ratio

# 80 columns show the figures of every collector and leave COMMAND ~21 cells;
# the syscalls view's details come in from 100 (TOP ERRNO from 120).
WIDE, WIDER = 100, 120


def _command(row: ProcsRow) -> str:
    return f"{row.comm} (exited)" if row.exited else row.comm


def _disk(row: ProcsRow) -> str:
    return fmt_bytes(row.disk_bytes_per_s) if row.disk_ios_total else "-"


def _disk_order(row: ProcsRow) -> tuple[float, int]:
    # A process with no I/O this interval but some before ranks above one with none ever.
    return rate_order(row.disk_bytes_per_s, row.disk_bytes), row.disk_ios_total


def _disk_ios(row: ProcsRow) -> str:
    return fmt_rate(row.disk_ios_per_s) if row.disk_ios_total else "-"


def _net(row: ProcsRow) -> str:
    total = row.net_sent_bytes + row.net_recv_bytes
    if row.net_sent_per_s is None or row.net_recv_per_s is None:
        return fmt_bytes(total) if total else "-"  # the first frame: no interval yet
    return fmt_bytes(row.net_sent_per_s + row.net_recv_per_s)


def _net_order(row: ProcsRow) -> float:
    if row.net_sent_per_s is None or row.net_recv_per_s is None:
        return float(row.net_sent_bytes + row.net_recv_bytes)
    return row.net_sent_per_s + row.net_recv_per_s


def _name_col(key: str, label: str, width: int, field: str, shown_from: int) -> Col[ProcsRow]:
    name = attrgetter(field)
    return Col(key, label, width, name, name, numeric=False, shown_from=shown_from)


COLUMNS: list[Col[ProcsRow]] = [
    Col("pid", "PID", 7, lambda r: str(r.pid), lambda r: r.pid),
    Col("user", "USER", 9, lambda r: r.user, lambda r: r.user.lower(), numeric=False),
    Col("cpu", "CPU%", 6, lambda r: fmt_pct(r.cpu_pct), lambda r: rate_order(r.cpu_pct, r.on_cpu_ns)),
    ns_col("rq", "RQ AVG", 7, "rq_avg_ns"),
    Col("command", "COMMAND", 0, _command, lambda r: r.comm.lower(), numeric=False),
    rate_col("calls", "SYSC/s", 7),
    rate_col("errors", "ERR/s", 6),
    Col("disk", "DISK/s", 8, _disk, _disk_order),
    ns_col("io_lat", "IO LAT", 8, "disk_avg_ns"),
    # TCP sent + received (tcp collector); from 90 cells, so COMMAND keeps 20 at 80.
    Col("net", "NET/s", 8, _net, _net_order, shown_from=90),
    # Only with hardware counters (pmc): the pane and the batch table hide it otherwise.
    Col("ipc", "IPC", 6, lambda r: fmt_ratio(r.ipc), attrgetter("ipc")),
    _name_col("top", "TOP SYSCALL", 12, "top_syscall", WIDE),
    replace(ns_col("avg", "SYS LAT", 8, "avg_ns"), shown_from=WIDE),
    _name_col("errno", "TOP ERRNO", 10, "top_errno", WIDER),
]
DISK_IOS: Col[ProcsRow] = Col(
    "disk_ios", "IO/s", 7, _disk_ios, lambda r: rate_order(r.disk_ios_per_s, r.disk_ios)
)
