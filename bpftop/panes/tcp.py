"""The tcp pane: live connections, recently closed ones, totals and the RTT histogram.

One row per live connection (pid, command, local port, remote address:port,
state, bytes and rate each way, retransmits, smoothed RTT); under it the
totals, the last closed connections (tcplife's lines) and the smoothed-RTT
histogram. ``/`` filters by port, address, process name or pid; Enter opens
the connection's process.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from bpftop.derive import Derived
from bpftop.derive.tcp import ClosedRow, ConnRow, TcpView
from bpftop.display.tcp import endpoint, fmt_rtt
from bpftop.fmt import fmt_bytes, fmt_rate, format_ns
from bpftop.panes.header import Readout
from bpftop.panes.histogram import HISTOGRAM_BINDINGS, HistogramBox, LatencyHistogram
from bpftop.panes.keyed_table import Col, KeyedTable, rate_order
from bpftop.panes.messages import OpenProcess
from bpftop.panes.table import TablePane

US = 1000  # the histogram's unit, in ns
CLOSED_SHOWN = 4
STATE_SHORT = {
    "ESTABLISHED": "ESTAB", "SYN_SENT": "SYN-S", "SYN_RECV": "SYN-R", "FIN_WAIT1": "FIN-W1",
    "FIN_WAIT2": "FIN-W2", "TIME_WAIT": "TIME-W", "CLOSE_WAIT": "CLOSE-W", "LAST_ACK": "LASTACK",
}  # fmt: skip


def _command(row: ConnRow) -> str:
    if not row.pid:
        return "(accepted, no owner)" if row.passive else "(unknown)"  # in the accept queue, or closed
    return row.comm


def _bytes_col(key: str, label: str, width: int, field: str) -> Col[ConnRow]:
    def rate(r: ConnRow) -> float | None:
        return getattr(r, f"{field}_per_s")

    return Col(
        key, label, width,
        lambda r: fmt_bytes(rate(r)) if rate(r) is not None else "-",
        lambda r: rate_order(rate(r), getattr(r, f"{field}_bytes")),
    )  # fmt: skip


def _total_col(key: str, label: str, width: int, field: str, shown_from: int) -> Col[ConnRow]:
    def total(r: ConnRow) -> int:
        return getattr(r, f"{field}_total")

    return Col(key, label, width, lambda r: fmt_bytes(total(r)), total, shown_from=shown_from)


# 80 columns leave COMMAND ~16 cells; the local address, state and totals come in wider.
COLUMNS: list[Col[ConnRow]] = [
    Col("pid", "PID", 7, lambda r: str(r.pid) if r.pid else "-", lambda r: r.pid),
    Col("command", "COMMAND", 0, _command, lambda r: r.comm.lower(), numeric=False),
    Col(
        "local",
        "LOCAL",
        22,
        lambda r: endpoint(r.laddr, r.lport),
        lambda r: (r.laddr, r.lport),
        numeric=False,
        shown_from=120,
    ),
    Col("lport", "LPORT", 6, lambda r: str(r.lport), lambda r: r.lport),
    Col(
        "remote",
        "REMOTE",
        22,
        lambda r: endpoint(r.raddr, r.rport),
        lambda r: (r.raddr, r.rport),
        numeric=False,
    ),
    Col(
        "state",
        "STATE",
        8,
        lambda r: STATE_SHORT.get(r.state, r.state),
        lambda r: r.state,
        numeric=False,
        shown_from=100,
    ),
    _bytes_col("tx", "TX/s", 7, "sent"),
    _bytes_col("rx", "RX/s", 7, "recv"),
    _total_col("tx_total", "TX", 7, "sent", 110),
    _total_col("rx_total", "RX", 7, "recv", 110),
    Col("retrans", "RETR", 5, lambda r: str(r.retrans_total), lambda r: (r.retrans, r.retrans_total)),
    Col("rtt", "RTT", 7, lambda r: fmt_rtt(r.srtt_us), lambda r: r.srtt_us),
]


def totals_text(view: TcpView) -> str:
    """``12 conns · TX 1.2M/s RX 30K/s · retr 3.0/s · rst 0 out 1 in · open 2.0/s close 2.0/s``."""
    t = view.totals
    return (
        f"{t.conns} conns · TX {fmt_bytes(t.sent_per_s)}/s RX {fmt_bytes(t.recv_per_s)}/s · "
        f"retr {fmt_rate(t.retrans_per_s)}/s · rst {t.resets_sent} out {t.resets_recv} in · "
        f"open {fmt_rate(t.opens_per_s)}/s close {fmt_rate(t.closes_per_s)}/s"
    )


def drops_text(view: TcpView) -> str:
    """Where bytes come from, and the non-zero drop counters (since start)."""
    source = (
        "bytes: per send/receive"
        if view.live_bytes
        else "bytes: only at close (no sock_send_length/sock_recv_length: Linux < 6.3)"
    )
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in view.drops.items() if v]
    return f"{source} · drops since start: " + (" · ".join(parts) if parts else "none")


def closed_line(c: ClosedRow) -> str:
    """One tcplife line in 80 cells: pid, command, local port, remote, TX/RX, duration, retransmits."""
    duration = format_ns(c.duration_ns) if c.duration_ns is not None else "?"
    retrans = f" retr {c.retrans}" if c.retrans else ""
    return (
        f"{c.pid or '-':>7} {c.comm[:12]:12} {c.lport:>5} > {endpoint(c.raddr, c.rport)[:21]:21} "
        f"TX {fmt_bytes(c.tx_bytes):>6} RX {fmt_bytes(c.rx_bytes):>6} {duration:>7}{retrans}"
    )


def searchable(row: ConnRow | ClosedRow) -> tuple[str, ...]:
    """What ``/`` looks in: command, pid, ports, ``addr:port`` both ends, user."""
    return (
        row.comm, str(row.pid), str(row.lport), str(row.rport), endpoint(row.laddr, row.lport),
        endpoint(row.raddr, row.rport), row.user,
    )  # fmt: skip


def closed_text(view: TcpView, needle: str = "") -> Text:
    """The last few closed connections (matching ``needle``), newest first, one line each."""
    shown = [c for c in view.closed if not needle or any(needle in s.lower() for s in searchable(c))]
    lines = [closed_line(c) for c in shown[:CLOSED_SHOWN]]
    text = Text("recently closed:" + ("\n" + "\n".join(lines) if lines else " none"))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class ConnTable(KeyedTable[ConnRow]):
    """The connection table; Enter opens the connection's process."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Process", tooltip="open the connection's process (tcp)"),
    ]


class TcpPane(TablePane[ConnRow]):
    """Live TCP connections, recently closed ones, totals and the smoothed-RTT histogram."""

    DEFAULT_CSS = f"""
    TcpPane > KeyedTable {{ min-height: 6; }}
    TcpPane > .totals, TcpPane > .drops {{ height: 1; }}
    TcpPane > .closed {{ height: {CLOSED_SHOWN + 1}; }}
    /* One line each at any width: a wrapped line would push the next one out of its fixed height. */
    TcpPane > .totals, TcpPane > .drops, TcpPane > .closed {{ text-wrap: nowrap; text-overflow: ellipsis; }}
    TcpPane > HistogramBox {{ max-height: 30%; }}
    TcpPane.-failed > .totals, TcpPane.-failed > .drops, TcpPane.-failed > .closed,
    TcpPane.-failed > HistogramBox {{ display: none; }}
    """
    BINDINGS = [*HISTOGRAM_BINDINGS]
    COLUMNS = COLUMNS
    COLLECTOR = "tcp"
    DEFAULT_SORT = "tx"
    FILTER_HINT = "filter by port, address, command or pid"
    TABLE_CLASS = ConnTable

    def compose_extra(self) -> ComposeResult:
        """Totals, drop counters, closed connections and the RTT histogram under the table."""
        yield Readout("", classes="totals")
        yield Readout("", classes="drops")
        yield Readout("", classes="closed")
        yield HistogramBox()

    @property
    def view(self) -> TcpView | None:
        """The tcp view of the last model, if any."""
        return self.derived.view("tcp") if self.derived else None

    def rows_of(self, derived: Derived) -> list[ConnRow] | None:
        """Live connections of the tcp view."""
        view: TcpView | None = derived.view("tcp")
        return list(view.conns) if view is not None else None

    def row_key(self, row: ConnRow) -> str:
        """The connection's id (unique per bpftop run)."""
        return str(row.id)

    def row_order(self, row: ConnRow) -> int:
        """Ties go by age: oldest connection first."""
        return row.id

    def matches(self, row: ConnRow, needle: str) -> bool:
        """Port, address, ``addr:port``, command or pid contains the text."""
        return any(needle in s.lower() for s in searchable(row))

    def after_sync(self, derived: Derived | None) -> None:
        """Redraw the totals, closed connections and the histogram."""
        view = self.view
        self.query_one(".totals", Readout).show(totals_text(view) if view else "")
        self.query_one(".drops", Readout).show(drops_text(view) if view else "")
        closed = closed_text(view, self.filter_text.lower()) if view else ""
        self.query_one(".closed", Readout).show(closed)
        histogram = self.query_one(LatencyHistogram)
        if view is None:
            histogram.show("smoothed RTT", (), empty="no data", unit_ns=US)
        elif any(view.rtt_hist):
            histogram.show(
                "smoothed RTT at connection setup/teardown, last interval", view.rtt_hist, unit_ns=US
            )
        else:  # samples are rare (two per connection): show what there is
            histogram.show(
                "smoothed RTT at connection setup/teardown, since start",
                view.rtt_hist_total,
                empty="no connection opened or closed yet",
                unit_ns=US,
            )

    @on(KeyedTable.RowSelected)
    def _open(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        row = next((r for r in (self.view.conns if self.view else ()) if str(r.id) == event.row_key), None)
        if row is None or not row.pid:
            self.notify("no process owns this connection yet")
            return
        self.post_message(OpenProcess(row.pid))
