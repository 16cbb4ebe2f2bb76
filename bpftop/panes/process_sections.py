"""The process screen's text sections: the overview, CPU and PMC, and their lines.

Each ``*_line`` function sums up one collector for one process in one line
(the overview shows them all); the sections show more of the same data.
Everything comes from ``ProcessData`` (panes/process_model.py).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from bpftop.derive import Derived
from bpftop.derive.stacks import top_functions
from bpftop.display.pmc import fmt_figure, headline, label
from bpftop.fmt import fmt_bytes, fmt_mb, fmt_pct, fmt_rate, fmt_ratio, format_ns
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HistogramBox, LatencyHistogram
from bpftop.panes.process_detail import TALL, detail_lines
from bpftop.panes.process_model import COLLECTOR_OF, ProcessData

US = 1000  # runqlat histograms are log2(us)
LABEL_W = 9


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{fmt_pct(value)}%"


def _ns(value: float | None) -> str:
    return format_ns(value)


def unavailable(derived: Derived | None, collector: str) -> str:
    """Why a collector has nothing to show ("" when it runs)."""
    if derived is None:
        return "waiting for the first frame…"
    status = derived.status_of(collector)
    if status is None:
        return f"{collector} collector not loaded (start without --pane for every collector)"
    if not status.ok:
        hint = f" — {status.hint}" if status.hint else ""
        return f"{collector} collector not loaded: {status.error}{hint}"
    return ""


def cpu_line(d: ProcessData) -> str:
    """``12.3% on-CPU · off 80.1% · run queue avg 12us p99 1.2ms max 3ms · switches 10/s 2/s``."""
    s = d.sched
    if s is None:
        return "no scheduling seen"
    return (
        f"{_pct(s.cpu_pct)} on-CPU · off {_pct(s.off_cpu_pct)} · run queue avg {_ns(s.rq_avg_ns)} "
        f"p99 {_ns(s.rq_p99_ns)} max {_ns(s.rq_max_ns)} · switches vol {fmt_rate(s.vol_per_s)}/s "
        f"invol {fmt_rate(s.invol_per_s)}/s"
    )


def syscalls_line(d: ProcessData) -> str:
    """``1.0k calls/s · 20 err/s · top write · errno write:EAGAIN``."""
    rows = d.syscalls
    if not rows:
        return "no syscalls seen"
    calls = sum(r.calls_per_s or 0.0 for r in rows) if rows[0].calls_per_s is not None else None
    errors = sum(r.errors_per_s or 0.0 for r in rows) if rows[0].errors_per_s is not None else None
    top = max(rows, key=lambda r: (r.calls, r.calls_total))
    worst = max(rows, key=lambda r: (r.errors, r.errors_total))
    errno = f" · errno {worst.name}:{worst.top_errno}" if worst.errors_total and worst.top_errno else ""
    return f"{fmt_rate(calls)} calls/s · {fmt_rate(errors)} err/s · top {top.name}{errno}"


def disk_line(d: ProcessData) -> str:
    """``120 IO/s · 0.48 MB/s · avg 180us · vda read, vda write``."""
    if not d.disk:
        return "no disk I/O seen"
    iops = sum(r.iops or 0.0 for r in d.disk)
    total = d.disk_total
    avg = _ns(total.avg_ns) if total is not None else "-"
    where = ", ".join(sorted({f"{r.disk} {r.op}" for r in d.disk}))
    return (
        f"{fmt_rate(iops)} IO/s · {fmt_mb(total.bytes_per_s if total else None)} MB/s · avg {avg} · {where}"
    )


def tcp_line(d: ProcessData) -> str:
    """``3 conns · TX 1.2K/s RX 30K/s · retr 0 · 2 closed recently``."""
    t = d.tcp
    if t is None and not d.conns and not d.closed:
        return "no TCP connection seen"
    sent = fmt_bytes(t.sent_per_s) if t else "-"
    recv = fmt_bytes(t.recv_per_s) if t else "-"
    retrans = t.retrans_total if t else 0
    return (
        f"{len(d.conns)} conns · TX {sent}/s RX {recv}/s · retr {retrans} · {len(d.closed)} closed recently"
    )


def pmc_line(d: ProcessData) -> str:
    """``IPC 1.23 · miss 4.5% · cycles 2.2G/s`` or the software counters."""
    view, row = d.pmc_view, d.pmc
    if view is None or row is None:
        return "not counted yet"
    parts = [f"IPC {fmt_ratio(row.ipc)}", f"miss {fmt_ratio(row.miss_pct, 1)}%"] if view.hardware else []
    parts += [
        f"{label(e.name, 12)} {fmt_figure(e.name, f, per_s=True)}/s"
        for e, f in zip(view.events, row.figures, strict=False)
    ]
    return " · ".join(parts)


def stacks_line(d: ProcessData) -> str:
    """``on-CPU: main 45% · off-CPU: futex_wait 80% · f flame graph``."""
    parts = []
    for mode, rows in (("on-CPU", d.cpu_stacks), ("off-CPU", d.off_stacks)):
        # The heaviest function by self time: where the time is spent, not a caller.
        top = max(top_functions(rows), key=lambda f: f.self_value, default=None)
        parts.append(f"{mode} {top.name} {top.self_pct:.0f}% self" if top else f"{mode} no stacks")
    return " · ".join(parts) + " · f flame graph"


LINES = {
    "cpu": ("CPU", cpu_line),
    "syscalls": ("SYSCALLS", syscalls_line),
    "disk": ("DISK", disk_line),
    "tcp": ("TCP", tcp_line),
    "pmc": ("PMC", pmc_line),
    "stacks": ("STACKS", stacks_line),
}


def overview_text(d: ProcessData, derived: Derived | None, detail_width: int = 0) -> Text:
    """One line per collector: its figures for the process, or why there are none.

    With ``detail_width``, a few of its rows under each line (see process_detail.py).
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, (section, (title, line)) in enumerate(LINES.items()):
        reason = unavailable(derived, COLLECTOR_OF[section])
        text.append("\n" if index else "")
        text.append(f"{title:<{LABEL_W}}", style="bold")
        text.append(reason or line(d))
        if detail_width and not reason:
            for detail in detail_lines(section, d, detail_width - LABEL_W):
                text.append("\n" + " " * LABEL_W + detail)
    return text


class Section(Vertical):
    """A section of the process screen; the screen sets ``data`` before ``show``."""

    COLLECTOR = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: ProcessData | None = None
        self.derived: Derived | None = None

    def show(self, derived: Derived | None) -> None:
        """Take a new frame; render now if on display."""
        self.derived = derived
        if self.display and self.screen.is_current:
            self.refresh_view()

    def refresh_view(self) -> None:
        """Render ``data`` (subclasses)."""


class OverviewSection(Section):
    """Every collector's line for the process."""

    DEFAULT_CSS = "OverviewSection > Readout { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }"

    def compose(self) -> ComposeResult:
        """The lines."""
        yield Readout("")

    def on_resize(self) -> None:
        """Detail rows come and go with the terminal's height."""
        self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw the lines, with detail rows when the terminal is tall."""
        if self.data is None or not self.is_mounted:
            return
        width = self.size.width if self.screen.size.height >= TALL else 0
        text, readout = overview_text(self.data, self.derived, width), self.query_one(Readout)
        if text.plain.count("\n") != str(readout.content).count("\n"):
            readout.update(text)  # its height changes: a layout, so only then
        else:
            readout.show(text)


class CpuSection(Section):
    """On-CPU, off-CPU and run-queue figures, and the run-queue wait histogram."""

    DEFAULT_CSS = """
    CpuSection > Readout { height: 4; text-wrap: nowrap; text-overflow: ellipsis; }
    CpuSection > HistogramBox { max-height: 1fr; }
    """
    COLLECTOR = "runqlat"

    def compose(self) -> ComposeResult:
        """Figures, then the histogram."""
        yield Readout("")
        yield HistogramBox()

    def refresh_view(self) -> None:
        """Redraw figures and histogram."""
        if self.data is None or not self.is_mounted:
            return
        histogram = self.query_one(LatencyHistogram)
        reason = unavailable(self.derived, self.COLLECTOR)
        s = self.data.sched
        if reason or s is None:
            self.query_one(Readout).show(reason or "no scheduling seen for this process yet")
            histogram.show("run-queue wait", (), empty="no data", unit_ns=US)
            return
        lines = [
            f"on-CPU {_pct(s.cpu_pct)} of one CPU ({format_ns(s.on_cpu_total_ns)} since start)",
            f"off-CPU {_pct(s.off_cpu_pct)}: blocked {_ns(s.off_blocked_ns)}, "
            f"preempted {_ns(s.off_preempted_ns)} in the interval",
            f"switches {fmt_rate(s.vol_per_s)}/s voluntary, {fmt_rate(s.invol_per_s)}/s involuntary",
            f"run-queue waits {s.rq_count} · avg {_ns(s.rq_avg_ns)} p50 {_ns(s.rq_p50_ns)} "
            f"p99 {_ns(s.rq_p99_ns)} max {_ns(s.rq_max_ns)} (since start {_ns(s.rq_max_total_ns)})",
        ]
        self.query_one(Readout).show("\n".join(lines))
        if not s.hist and s.rq_count:
            histogram.show("run-queue wait", (), empty="no histogram kept for it", unit_ns=US)
        else:
            title = f"{self.data.comm} ({s.pid}) run-queue wait, last interval"
            histogram.show(title, s.hist, s.rq_max_ns, empty="no wait in this interval", unit_ns=US)


class PmcSection(Section):
    """Its counters: IPC and cache misses, or the software counters without a PMU."""

    DEFAULT_CSS = "PmcSection > Readout { height: auto; }"
    COLLECTOR = "pmc"

    def compose(self) -> ComposeResult:
        """The counters."""
        yield Readout("")

    def refresh_view(self) -> None:
        """Redraw the counters."""
        if self.data is None or not self.is_mounted:
            return
        reason = unavailable(self.derived, self.COLLECTOR)
        view, row = self.data.pmc_view, self.data.pmc
        if reason or view is None:
            self.query_one(Readout).show(reason or "waiting for the pmc collector")
            return
        lines = list(headline(view))
        if row is None:
            lines.append("no counts for this process yet")
        else:
            if view.hardware:
                lines.append(f"IPC {fmt_ratio(row.ipc)} · cache miss {fmt_ratio(row.miss_pct, 1)}%")
            for event, figure in zip(view.events, row.figures, strict=False):
                total = fmt_figure(event.name, figure._replace(value=figure.total), per_s=False)
                lines.append(
                    f"{label(event.name, 20):<20} {fmt_figure(event.name, figure, per_s=True):>10}/s"
                    f"  {total:>10} since start"
                )
            if row.cpu_pct is not None:
                lines.append(f"{'CPU':<20} {fmt_ratio(row.cpu_pct, 1):>10}%")
        readout, text = self.query_one(Readout), "\n".join(lines)
        if text.count("\n") != str(readout.content).count("\n"):
            readout.update(text)  # its height changes: a layout, so only then
        else:
            readout.show(text)
