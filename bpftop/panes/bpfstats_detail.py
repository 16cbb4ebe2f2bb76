"""The bpf pane's Enter screens: a program's instructions, a map's contents.

Both are read from the kernel on demand, in a worker thread, through the
engine (``BpftopApp.query_source``); a replay has no kernel to ask, and says so. The
disassembly is the text of ``bpftool prog dump xlated`` (``l`` adds each
source line's file, line and column, like its ``linum`` option).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log

from bpftop.derive import Derived
from bpftop.derive.bpfstats import BpfstatsView, MapStat, ProgStat
from bpftop.display.bpfstats import entries_text
from bpftop.fmt import fmt_bytes
from bpftop.panes.header import Readout, StatusHeader

COLLECTOR = "bpfstats"


def program_info(p: ProgStat) -> str:
    """Two lines of ``bpftool prog show``-like facts."""
    loaded = datetime.fromtimestamp(p.loaded_at).strftime("%Y-%m-%d %H:%M:%S")
    maps = ",".join(map(str, p.map_ids)) or "-"
    return (
        f"{p.id}: {p.type} name {p.name} tag {p.tag} · loaded {loaded} uid {p.uid} · "
        f"owners {p.owners or '-'}\n"
        f"xlated {fmt_bytes(p.xlated_bytes)}B jited {fmt_bytes(p.jited_bytes)}B "
        f"memlock {fmt_bytes(p.memlock_bytes)}B "
        f"map_ids {maps} btf_id {p.btf_id} verified {p.verified_insns} insns · "
        f"runs {p.run_cnt_total} avg {p.avg_total_ns or 0:.0f}ns overall · misses {p.recursion_misses_total}"
    )


def map_info(m: MapStat) -> str:
    """Two lines of ``bpftool map show``-like facts."""
    used = ",".join(map(str, m.prog_ids)) or "-"
    return (
        f"{m.id}: {m.type} name {m.name} flags {m.flags:#x} · key {m.key_size}B value {m.value_size}B "
        f"max_entries {m.max_entries} entries {entries_text(m)}\n"
        f"memlock {fmt_bytes(m.memlock_bytes)}B btf_id {m.btf_id or '-'} · used by programs {used} · "
        f"owners {m.owners or '-'}"
    )


class DetailScreen(Screen[None]):
    """Header, a facts line, a scrollable text, the key hints; Esc goes back."""

    BINDINGS = [Binding("escape", "back", "Back", tooltip="back to the bpf pane")]
    DEFAULT_CSS = """
    DetailScreen > #facts { height: 2; margin-bottom: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    DetailScreen > Log { height: 1fr; }
    """
    KIND = ""

    def __init__(self, obj_id: int) -> None:
        super().__init__()
        self.obj_id = obj_id
        self.result: Any = None

    def compose(self) -> ComposeResult:
        """Header, facts, the text, key hints."""
        yield StatusHeader()
        yield Readout("", id="facts")
        yield Log(highlight=False)
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        """Follow the frames for the facts line; read the detail once."""
        self.query_one(StatusHeader).location = f"bpf {self.KIND} {self.obj_id} │ Esc back"
        self.watch(self.app, "derived", self._show, init=True)
        self.query_one(Log).write_line("reading from the kernel…")
        self._fetch()

    def _show(self, derived: Derived | None) -> None:
        view: BpfstatsView | None = derived.views.get(COLLECTOR) if derived else None
        facts = self.facts(view) if view is not None else None
        if facts:
            self.query_one("#facts", Readout).show(facts)

    def facts(self, view: BpfstatsView) -> str | None:
        """The facts line from the pane's model, None if the object is gone."""
        raise NotImplementedError

    @work(thread=True, exclusive=True, group="bpf-detail")
    def _fetch(self) -> None:
        # The app asks its source (the engine, possibly behind the recorder); a replay cannot.
        app = self.app
        if not getattr(app, "source_is_live", False):
            lines = [f"{self.KIND} contents are read from the kernel: not available in a replay"]
        else:
            try:
                self.result = app.query_source(COLLECTOR, self.KIND, self.obj_id)  # type: ignore[attr-defined]
                lines = self.lines()
            except Exception as exc:  # the object went away, or no permission: say so
                lines = [f"cannot read {self.KIND} {self.obj_id}: {exc}"]
        self.app.call_from_thread(self._write, lines)

    def lines(self) -> list[str]:
        """The text to show from ``self.result``."""
        raise NotImplementedError

    def _write(self, lines: list[str]) -> None:
        log = self.query_one(Log)
        log.clear()
        log.write_lines(lines)
        log.scroll_home(animate=False)

    def action_back(self) -> None:
        """Return to the pane."""
        self.dismiss(None)


class ProgramScreen(DetailScreen):
    """One program: its facts and its translated instructions."""

    KIND = "prog"
    BINDINGS = [Binding("l", "toggle_linum", "Line numbers", tooltip="show source file, line and column")]

    def __init__(self, obj_id: int) -> None:
        super().__init__(obj_id)
        self.linum = False

    def facts(self, view: BpfstatsView) -> str | None:
        """From the programs table."""
        prog = view.by_id.get(self.obj_id)
        return program_info(prog) if prog else f"program {self.obj_id} is no longer loaded"

    def lines(self) -> list[str]:
        """``bpftool prog dump xlated`` (``linum`` with ``l``)."""
        detail = self.result
        text = list(detail.lines_linum if self.linum else detail.lines)
        if not detail.has_btf:
            text.insert(0, "(no BTF: no function names or source lines)")
        return text

    def action_toggle_linum(self) -> None:
        """Add or drop source locations."""
        self.linum = not self.linum
        if self.result is not None:
            self._write(self.lines())


class MapScreen(DetailScreen):
    """One map: its facts and its entries."""

    KIND = "map"

    def facts(self, view: BpfstatsView) -> str | None:
        """From the maps table."""
        m = view.maps_by_id.get(self.obj_id)
        return map_info(m) if m else f"map {self.obj_id} is no longer there"

    def lines(self) -> list[str]:
        """``key: … value: …`` per entry; JSON with BTF, hex bytes without."""
        contents = self.result
        how = "formatted with the map's BTF" if contents.has_btf else "no BTF: hex bytes"
        head = [
            f"{len(contents.entries)} entries ({how}){' — first ones only' if contents.truncated else ''}"
        ]
        return head + [f"key: {key}  value: {value}" for key, value in contents.entries]
