"""The overview's detail lines on a tall terminal: a few rows of each collector under its line.

At 80x24 the overview is one line per collector and each section has the
rest; from ``TALL`` lines on there is room for the busiest rows of every
collector on the one page, like atop's process view.
"""

from __future__ import annotations

from bpftop.derive.stacks import top_functions
from bpftop.display.tcp import endpoint, fmt_rtt
from bpftop.fmt import fmt_bytes, fmt_mb, fmt_rate, format_ns
from bpftop.panes.histogram import histogram_lines
from bpftop.panes.process_model import ProcessData
from bpftop.panes.tcp import STATE_SHORT, closed_line

TALL = 40  # terminal lines from which the overview has detail lines
ROWS = 4  # detail rows per collector
US = 1000


def _cpu(d: ProcessData, width: int) -> list[str]:
    s = d.sched
    if s is None or not any(s.hist):
        return []
    lines = histogram_lines(s.hist, min(width, 100), US)
    first = next(i for i, n in enumerate(s.hist) if n)
    # The busiest slots, in slot order (lines[i] is slot first + i).
    busiest = sorted(sorted(range(len(lines)), key=lambda i: -s.hist[first + i])[:ROWS])
    return ["run-queue wait, last interval (busiest slots):", *(lines[i] for i in busiest)]


def _syscalls(d: ProcessData, width: int) -> list[str]:
    rows = sorted(d.syscalls, key=lambda r: (-r.calls, -r.calls_total, r.name))[:ROWS]
    return [
        f"{r.name:<16} {fmt_rate(r.calls_per_s):>7}/s {fmt_rate(r.errors_per_s):>6} err/s "
        f"avg {format_ns(r.avg_ns):>7} max {format_ns(r.max_ns):>7} {r.top_errno}"
        for r in rows
    ]


def _disk(d: ProcessData, width: int) -> list[str]:
    rows = sorted(d.disk, key=lambda r: (-r.ios, r.disk, r.op))[:ROWS]
    return [
        f"{r.disk:<10} {r.op:<8} {fmt_rate(r.iops):>7} IO/s {fmt_mb(r.bytes_per_s):>8} MB/s "
        f"avg {format_ns(r.avg_ns):>7} {fmt_bytes(r.bytes_total):>7} since start"
        for r in rows
    ]


def _tcp(d: ProcessData, width: int) -> list[str]:
    lines = [
        f"{c.lport:>5} > {endpoint(c.raddr, c.rport):<22} {STATE_SHORT.get(c.state, c.state):<7} "
        f"TX {fmt_bytes(c.sent_per_s):>6}/s RX {fmt_bytes(c.recv_per_s):>6}/s retr {c.retrans_total} "
        f"rtt {fmt_rtt(c.srtt_us)}"
        for c in d.conns[:ROWS]
    ]
    return lines + [f"closed {closed_line(c).strip()}" for c in d.closed[: max(1, ROWS - len(lines))]]


def _stacks(d: ProcessData, width: int) -> list[str]:
    lines = []
    for mode, rows in (("on-CPU", d.cpu_stacks), ("off-CPU", d.off_stacks)):
        functions = sorted(
            (f for f in top_functions(rows) if f.self_value), key=lambda f: (-f.self_value, f.name)
        )
        functions = functions[: ROWS // 2]
        lines += [f"{mode:<8} {f.self_pct:5.1f}% self {f.total_pct:5.1f}% total  {f.name}" for f in functions]
    return lines


DETAILS = {"cpu": _cpu, "syscalls": _syscalls, "disk": _disk, "tcp": _tcp, "stacks": _stacks}


def detail_lines(section: str, d: ProcessData, width: int) -> list[str]:
    """A few rows of ``section``'s data for the process, ``width`` cells at most each."""
    detail = DETAILS.get(section)
    return detail(d, width) if detail is not None else []
