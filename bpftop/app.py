"""The interactive dashboard: a Textual app fed by a frame source.

A thread of its own owns the source: every ``delay_s`` it calls
``source.advance()`` and ``derive`` (both off the event loop) and posts
``FrameReady``, which a busy UI coalesces so it only ever renders the newest
frame. Focus changes for the process screen are handed to the same thread, so
``set_focus`` never blocks the UI and never races a tick.

Pause freezes the display, not the sampling: ticks go on, so the first frame
shown after resuming has rates over one normal interval rather than over the
whole pause.

Every way out (q, Ctrl-C, F10, a signal, the terminal going) asks the exit
guard first (``bpftop/exiting.py``), so the process ends in time even when
the sampling thread is stuck in a read for good. That thread is a daemon and
not one of Textual's workers: those run in asyncio's default executor, whose
shutdown waits for them without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input

from bpftop.argtypes import DELAY_MAX_S, DELAY_MIN_S
from bpftop.derive import Derived, LazyViews, derive
from bpftop.exiting import ExitGuard
from bpftop.heap import settle_gc
from bpftop.panes.header import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from bpftop.panes.help import CURSOR_BINDINGS, HelpScreen
from bpftop.panes.histogram import HISTOGRAM_BINDINGS
from bpftop.panes.main import MainScreen
from bpftop.panes.messages import OpenProcess, PaneLeft, PaneShown
from bpftop.panes.procs import ProcTable
from bpftop.panes.table import TablePane
from bpftop.panes.timeline import REPLAY_BINDINGS, REPLAY_HELP, Timeline, replay_command
from bpftop.registry import PANE_ORDER, PANES, resolve
from bpftop.source import Source
from bpftop.terminal import HangupAwareDriver, HangupWatch, terminal_lost

# How often the app checks that its terminal is still there (besides waking
# on its hang-up at once), and its exit code when it is not (128 + SIGHUP, as
# if the hangup signal had ended it).
TERMINAL_POLL_S = 0.5
TERMINAL_LOST_EXIT = 129
# After this many ticks start-up is over (BPF objects, symbols, Textual's
# widgets): bpftop.heap.settle_gc then keeps the collector from walking them
# again.
FREEZE_AFTER_TICKS = 2
# `+`/`-` step through these intervals: the range -d takes (argtypes.delay), one range.
DELAYS_S = (DELAY_MIN_S, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, DELAY_MAX_S)


class FrameReady(Message):
    """A derived frame is ready; a newer one replaces it if the UI lags behind."""

    def __init__(self, derived: Derived) -> None:
        super().__init__()
        self.derived = derived

    def can_replace(self, message: Message) -> bool:
        """Only the newest frame matters."""
        return isinstance(message, FrameReady)


class TickFailed(Message):
    """Sampling or deriving raised; the error is shown and sampling goes on."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def step_delay(delay_s: float, direction: int) -> float:
    """The next interval in ``DELAYS_S`` below (-1) or above (+1) ``delay_s``."""
    if direction < 0:
        return max((d for d in DELAYS_S if d < delay_s - 1e-9), default=DELAYS_S[0])
    return min((d for d in DELAYS_S if d > delay_s + 1e-9), default=DELAYS_S[-1])


def _action(binding: BindingType) -> str:
    return binding.action if isinstance(binding, Binding) else binding[1]


def _description(binding: BindingType) -> str:
    if isinstance(binding, Binding):
        return binding.description
    return binding[2] if len(binding) > 2 else ""


def _key(binding: BindingType) -> str:
    return binding.key if isinstance(binding, Binding) else binding[0]


class BpftopApp(App[None]):
    """bpftop's dashboard.

    Args:
        source: where frames come from (``Engine``, a replay, a test fake).
        pane: the pane shown first.
        comm: regular expression on process names, applied by ``derive``.
        delay_s: refresh interval; None keeps ``source.delay_s``.
        panes: the panes to offer (``--pane`` loads one).
        guard: the exit guard of the process (``bpftop/exiting.py``); signals then ask the app to exit.
        opener: loads the collectors (``Engine.open``) in the sampling thread
            once the layout is on screen; returns whether any runs. None: the
            source is ready.
        open_rest: loads the collectors the first pane does not need, in the
            sampling thread after the first frame: its rows come first.
    """

    TITLE = "bpftop"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="quit bpftop"),
        # htop's quit keys; priority: Textual's own Ctrl-C only says "press q to quit".
        Binding("ctrl+c,f10", "quit", "Quit", show=False, priority=True, tooltip="quit bpftop"),
        Binding("?", "help", "Help", tooltip="show this help"),
        Binding("space,p", "toggle_pause", "Pause", tooltip="freeze the display (sampling goes on)"),
        # The same key in replay, where it plays and pauses the playback (check_action picks one).
        Binding("space,p", "play_pause", "Play/Pause", tooltip="replay: play or pause the playback"),
        Binding("+", "faster", "Faster", show=False, tooltip="refresh more often (down to 0.05 s)"),
        Binding("-", "slower", "Slower", show=False, tooltip="refresh less often (up to an hour)"),
        *REPLAY_BINDINGS,
    ]

    derived: reactive[Derived | None] = reactive(None, always_update=True, repaint=False, init=False)
    delay_s: reactive[float] = reactive(1.0, repaint=False, init=False)
    paused: reactive[bool] = reactive(False, repaint=False, init=False)
    # "REC", "REC FAILED: ...", "REPLAY ▶ 1x 14:03:22" (from the source), for the header.
    record_label: reactive[str] = reactive("", repaint=False, init=False)

    def __init__(
        self,
        source: Source,
        pane: str = "procs",
        comm: str = "",
        delay_s: float | None = None,
        *,
        panes: tuple[str, ...] = ("procs", "syscalls"),
        guard: ExitGuard | None = None,
        opener: Callable[[], bool] | None = None,
        open_rest: Callable[[], object] | None = None,
    ) -> None:
        # NO_COLOR: Textual alone only turns colours to shades of grey (still
        # colour escapes); with the terminal's own ANSI colours it drops them.
        super().__init__(ansi_color=os.environ.get("NO_COLOR") is not None, driver_class=HangupAwareDriver)
        self.source = source
        self.comm = comm
        self.panes = tuple(p for p in panes if p in PANES) or PANE_ORDER
        self.first_pane = pane if pane in self.panes else self.panes[0]
        self.frames_applied = 0
        self._interval_s = self.validate_delay_s(source.delay_s if delay_s is None else delay_s)
        self.set_reactive(BpftopApp.delay_s, self._interval_s)
        self._latest: Derived | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._focus_lock = threading.Lock()
        self._focus_wanted: int | None = None
        self._source_closed = False
        self._last_error = ""
        self._too_small: TooSmallScreen | None = None
        # Replay: the playback controls; the worker ticks at once after a move.
        self.replay = source.replay
        self._tick_now = False
        self._tty_fd = -1
        self.shown_pane = ""  # what pane_shown last told the source
        self._shown_under: list[str] = []  # under panes shown over others (PaneShown.over)
        self.syscall_latency: bool | None = None  # what the source was told (None: nothing yet)
        self.guard = guard
        self._exit_loop: asyncio.AbstractEventLoop | None = None
        self._exit_code: int | None = None  # asked for by a signal, maybe before the loop ran
        self._ticker = threading.Thread(target=self._tick_loop, name="bpftop-tick", daemon=True)
        self._hangup_watch: HangupWatch | None = None
        if guard is not None:
            guard.on_signal(self.request_exit)
        self._opener = opener
        self._open_rest = open_rest
        self.loading = opener is not None  # the panes say "loading collectors…" meanwhile
        self.nothing_running = False  # the opener loaded nothing: the app ends with code 1

    def get_default_screen(self) -> Screen[None]:
        """The panes."""
        timeline = Timeline(self.replay) if self.replay is not None else None
        return MainScreen(self.panes, self.first_pane, above_footer=timeline)

    def on_mount(self) -> None:
        """Start sampling; check the terminal is big enough, and keep checking it is there."""
        self._exit_loop = asyncio.get_running_loop()
        if self._exit_code is not None:  # a signal struck while the app started
            self.exit(return_code=self._exit_code)
            return
        self.source.delay_s = self._interval_s
        self._check_size(self.size)
        # After the first screen is drawn: the collectors load meanwhile, and
        # an exit (nothing loaded) must not come while the screen mounts.
        self.call_after_refresh(self._ticker.start)
        if not self.is_headless:  # run_test() has no terminal to lose
            self._tty_fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else -1
            self._hangup_watch = HangupWatch(self._tty_fd, self._terminal_hung_up, TERMINAL_POLL_S)
            self._hangup_watch.start()

    def request_exit(self, code: int) -> None:
        """Exit with ``code`` at the event loop's next turn; safe from a signal handler or any thread."""
        self._exit_code = code
        if self._exit_loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended: main is unwinding anyway
                self._exit_loop.call_soon_threadsafe(self.exit, None, code)

    def _terminal_hung_up(self) -> None:
        """From the hang-up watch's thread: stop using the terminal, and exit."""
        driver = self._driver
        if isinstance(driver, HangupAwareDriver):
            driver.input_lost()
        if self.guard is not None:
            self.guard.request(TERMINAL_LOST_EXIT)
        if self._exit_loop is not None:
            with contextlib.suppress(RuntimeError):
                self._exit_loop.call_soon_threadsafe(self._watch_terminal)

    def _watch_terminal(self) -> None:
        """Exit at once when the terminal went away (see ``bpftop.terminal``)."""
        if terminal_lost(self._tty_fd):
            self.close_source()  # detach first: writing the last screen may fail
            self.exit(return_code=TERMINAL_LOST_EXIT)

    async def action_quit(self) -> None:
        """Quit; the exit guard bounds how long leaving may take."""
        if self.guard is not None:
            self.guard.request(0)
        self.exit()

    def on_unmount(self) -> None:
        """Stop the sampling thread and close the source."""
        if self._hangup_watch is not None:
            self._hangup_watch.stop()
        self.close_source()

    def close_source(self) -> None:
        """Stop sampling and close the source once; later calls do nothing."""
        self._stop.set()
        self._wake.set()
        if self._source_closed:
            return
        self._source_closed = True
        self.source.close()

    def _open_source(self) -> bool:
        """Load the collectors (sampling thread): the layout is drawn meanwhile. False: none runs."""
        if self._opener is None:
            return True
        try:
            running = self._opener()
        except Exception as exc:
            self._post(TickFailed(f"loading collectors: {type(exc).__name__}: {exc}"))
            running = False
        if not running and not self._stop.is_set():
            self.nothing_running = True
            self.request_exit(1)
        return running

    def _tick_loop(self) -> None:
        if not self._open_source():
            return
        ticks = 0
        while not self._stop.is_set():
            started = time.monotonic()
            self._tick_now = False
            self._apply_focus()
            try:
                # The source says what to derive (a replay: against the frame
                # recorded before; the same frame again while paused: nothing).
                step = self.source.advance(self.comm)
                derived = derive(step.prev, step.cur, self.comm, step.detail) if step.fresh else None
                if derived is not None and isinstance(derived.views, LazyViews):
                    # Here, off the event loop: what the screen shows; others when read.
                    shown = PANES.get(self.shown_pane)  # a process's screen shows every view
                    derived.views.warm(shown.views if shown is not None else derived.views)
                    if shown is not None and shown.prepare:
                        resolve(shown.prepare)(derived)
            except Exception as exc:
                self._post(TickFailed(f"{type(exc).__name__}: {exc}"))
            else:
                if derived is not None:
                    self._post(FrameReady(derived))
                ticks += 1
                if ticks == 1 and self._open_rest is not None:
                    self._load_rest()
                if ticks == FREEZE_AFTER_TICKS:
                    settle_gc()
            while not self._stop.is_set():
                remaining = started + self._interval_s - time.monotonic()
                if remaining <= 0 or self._tick_now:
                    break
                self._wake.wait(remaining)
                self._wake.clear()
                self._apply_focus()

    def _post(self, message: Message) -> None:
        """Post from the sampling thread; a tick that ends after the app closed its loop is dropped."""
        with contextlib.suppress(RuntimeError):
            self.post_message(message)

    def _load_rest(self) -> None:
        """The collectors the first pane does not need (sampling thread, after its first frame)."""
        try:
            self._open_rest()  # type: ignore[misc]
        except Exception as exc:
            self._post(TickFailed(f"loading collectors: {type(exc).__name__}: {exc}"))
        # The next tick follows at once: the first frame had no rates anyway.
        self._tick_now = True

    def _apply_focus(self) -> None:
        with self._focus_lock:
            pid, self._focus_wanted = self._focus_wanted, None
        if pid is None or self._stop.is_set():
            return
        try:
            self.source.set_focus(pid)
        except Exception as exc:
            self._post(TickFailed(f"set_focus({pid}): {exc}"))

    def request_focus(self, pid: int) -> None:
        """Ask the sampling thread to focus on ``pid`` (0: none) before its next tick."""
        with self._focus_lock:
            self._focus_wanted = pid
        self._wake.set()

    def on_frame_ready(self, message: FrameReady) -> None:
        """Show the frame unless paused; keep it for when the pause ends."""
        self._latest = message.derived
        self.record_label = self.source.record_label
        if not self.paused:
            self._apply(message.derived)

    def on_tick_failed(self, message: TickFailed) -> None:
        """Say why a tick failed (once per distinct error, not every tick)."""
        if message.error != self._last_error:
            self._last_error = message.error
            self.notify(message.error, title="sampling failed", severity="error", markup=False)

    def _apply(self, derived: Derived) -> None:
        self.loading = False
        self.frames_applied += 1
        self.derived = derived

    def validate_delay_s(self, delay_s: float) -> float:
        """Keep the interval within the range -d takes (0.05 s to an hour)."""
        return min(DELAYS_S[-1], max(DELAYS_S[0], delay_s))

    def watch_delay_s(self, delay_s: float) -> None:
        """Tell the sampling thread (and the source, which stamps frames with it)."""
        self._interval_s = delay_s
        self.source.delay_s = delay_s
        self._wake.set()

    def watch_paused(self, paused: bool) -> None:
        """On resume, show the newest frame at once."""
        if not paused and self._latest is not None and self._latest is not self.derived:
            self._apply(self._latest)

    def action_toggle_pause(self) -> None:
        """Freeze or unfreeze the display (in replay: play or pause the playback)."""
        if self.replay is not None:
            self.action_replay("play")
        else:
            self.paused = not self.paused

    def action_play_pause(self) -> None:
        """Replay's name for the pause key: play or pause the playback."""
        self.action_toggle_pause()

    def action_replay(self, command: str, amount: float = 0.0) -> None:
        """Drive the playback (see ``panes/timeline.py: replay_command``)."""
        if self.replay is not None:
            replay_command(self, self.replay, command, amount)

    def replay_moved(self) -> None:
        """The playback moved or changed speed: show it, and tick now."""
        self.record_label = self.source.record_label
        self._tick_now = True
        self._wake.set()

    def action_faster(self) -> None:
        """Shorter refresh interval."""
        self.delay_s = step_delay(self.delay_s, -1)

    def action_slower(self) -> None:
        """Longer refresh interval."""
        self.delay_s = step_delay(self.delay_s, +1)

    def action_help(self) -> None:
        """Show every key (in replay: the replay keys first, and what they take over)."""
        # play_pause is the replay half of the pause key: REPLAY_HELP lists it.
        taken = {"play_pause"}
        if self.replay is not None:
            taken |= {"toggle_pause", "sort(1)", "sort(-1)"}
        everywhere = [*BpftopApp.BINDINGS, *MainScreen.BINDINGS]
        # Imported when asked for, not at start-up: ~60 ms before the first frame.
        from bpftop.panes.process import ProcessScreen

        tables = [*TablePane.BINDINGS, *HISTOGRAM_BINDINGS, *ProcTable.BINDINGS, *ProcessScreen.BINDINGS]
        sections = [
            ("everywhere", [b for b in everywhere if b not in REPLAY_BINDINGS and _action(b) not in taken]),
            ("tables", [b for b in tables if _action(b) not in taken or _key(b) == "s"] + CURSOR_BINDINGS),
        ]
        from bpftop.panes.flamegraph import FlameGraph
        from bpftop.panes.stacks import StacksPane

        sections.append(("stacks (flame graph)", [*FlameGraph.BINDINGS, *StacksPane.BINDINGS[:2]]))
        # Keys of the pane on screen that no section above lists (bpf: w, o, m; pmc: c).
        listed = {(_action(b), _description(b)) for _, bindings in sections for b in bindings}
        here: list[BindingType] = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.tooltip:  # Textual's own cursor and scroll keys: CURSOR_BINDINGS says it
                continue
            if (binding.action, binding.description) in listed or binding.action in taken | {"replay"}:
                continue
            listed.add((binding.action, binding.description))
            here.append(binding)
        if here:
            sections.insert(0, ("this pane", here))
        if self.replay is not None:
            sections.insert(0, ("replay", REPLAY_HELP))
        self.push_screen(HelpScreen(sections))

    @property
    def source_is_live(self) -> bool:
        """Whether the source can be asked for on-demand detail (the kernel; not a replay)."""
        return self.source.live

    def query_source(self, collector: str, *args: object) -> object:
        """Ask one collector of a live source for detail; call from a worker thread.

        Raises:
            LookupError: that collector is not running.
        """
        return self.source.query(collector, *args)

    def pane_shown(self, name: str) -> None:
        """Tell the source which pane is on screen (a replay does not care)."""
        self.shown_pane = name
        self.source.set_option("visible_pane", name)
        self._sync_syscall_latency()

    def _sync_syscall_latency(self, width: int | None = None) -> None:
        """Time syscalls only while what is on screen shows their latency (a process's screen does)."""
        if not self.shown_pane:
            return
        wanted = self.shown_pane == "process"
        if not wanted:
            # The panes' screen, under help or a process's screen if one is on top.
            panes = self.screen_stack[0].query(f"#{self.shown_pane}") if self.screen_stack else None
            pane = next(iter(panes.results(TablePane)), None) if panes is not None else None
            wanted = pane is not None and pane.shows_syscall_latency(width or self.size.width)
        if wanted != self.syscall_latency:
            self.syscall_latency = wanted
            self.source.set_option("syscall_latency", wanted)

    def on_open_process(self, message: OpenProcess) -> None:
        """Open a process's screen (any pane's Enter on a process posts this message).

        The collectors focus on the process while it is open, and those that
        count only for a pane on show (pmc, off-CPU stacks) count for it too.
        """
        under = getattr(self.screen, "current", "")  # the pane it opens over
        self.request_focus(message.pid)
        self.pane_shown("process")
        from bpftop.panes.process import ProcessScreen  # not at start-up (~60 ms of imports)

        self.push_screen(ProcessScreen(message.pid), callback=lambda _: self._process_closed(under))

    def on_pane_shown(self, message: PaneShown) -> None:
        """A pane came on screen (``over``: over the one shown, which comes back with ``PaneLeft``)."""
        if message.over:
            self._shown_under.append(self.shown_pane)
        self.pane_shown(message.name)

    def on_pane_left(self, message: PaneLeft) -> None:
        """A pane shown over another left: show the one under it again."""
        if self._shown_under:
            under = self._shown_under.pop()
            if under:
                self.pane_shown(under)

    def _process_closed(self, pane: str) -> None:
        self.request_focus(0)
        if pane:
            self.pane_shown(pane)

    def on_resize(self, event: events.Resize) -> None:
        """Swap in the too-small notice, or take it away; time syscalls if SYS LAT came in."""
        self._check_size(event.size)
        self._sync_syscall_latency(event.size.width)  # self.size is still the old one here

    def _check_size(self, size: Size) -> None:
        if size.width < MIN_WIDTH or size.height < MIN_HEIGHT:
            if self._too_small is None:
                self._too_small = TooSmallScreen(size.width, size.height)
                self.push_screen(self._too_small)
            else:
                self._too_small.set_size(size.width, size.height)
        elif self._too_small is not None:
            if self.screen is self._too_small:
                self.pop_screen()
            self._too_small = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the terminal is too small, only quitting works; replay keys only in replay.

        A typed ``<`` or ``>`` goes to a focused input, not to the replay speed.
        """
        if self._too_small is not None:
            return action == "quit"
        if action == "replay":
            return self.replay is not None and not isinstance(self.focused, Input)
        if action in ("toggle_pause", "play_pause"):
            return (action == "play_pause") == (self.replay is not None)
        return True
