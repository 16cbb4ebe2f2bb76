"""The panes' own widgets on their own: KeyedTable and LatencyHistogram (pilot, no BPF)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.message import Message

from bpftop.panes.histogram import LatencyHistogram
from bpftop.panes.keyed_table import KeyedTable, fit

SIZE = (40, 12)  # the table: a header line and 11 rows


def test_fit_pads_cuts_and_neutralises_controls() -> None:
    assert fit("ab", 4) == "ab  "
    assert fit("ab", 4, right=True) == "  ab"
    assert fit("abcdef", 4) == "abc…"
    assert fit("abcdef", 4, right=True) == "abc…"
    assert fit("日本語", 4) == "日 …"  # wide characters count two cells
    assert fit("a\x1b[2Jb\n", 8) == "a?[2Jb? "  # a name cannot drive the terminal
    assert fit("abc", 0) == ""


class TableApp(App[None]):
    """One KeyedTable over rows (key, value): the value's text in one column."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        table: KeyedTable[tuple[str, int]] = KeyedTable(lambda row: (row[0], str(row[1])))
        table.add_column("key", "KEY", 10)
        table.add_column("value", "VALUE", 8, right=True)
        yield table

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    def on_keyed_table_row_highlighted(self, message: KeyedTable.RowHighlighted) -> None:
        self.messages.append(message)

    def on_keyed_table_row_selected(self, message: KeyedTable.RowSelected) -> None:
        self.messages.append(message)

    def show(self, keys: list[str]) -> KeyedTable[tuple[str, int]]:
        table: KeyedTable[tuple[str, int]] = self.query_one(KeyedTable)
        table.sync([(key, (key, index)) for index, key in enumerate(keys)])
        return table


def names(count: int) -> list[str]:
    return [f"k{i:02d}" for i in range(count)]


async def test_table_draws_header_cursor_and_rows() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.show(["a", "b"])
        await pilot.pause()
        lines = [table.render_line(y) for y in range(4)]
        assert [line.text[:18] for line in lines[:3]] == [
            "KEY          VALUE",
            "a                0",
            "b                1",
        ]
        assert lines[3].text.strip() == ""
        cursor = next(iter(lines[1])).style
        assert cursor is not None and cursor.reverse and cursor.bold


async def test_keys_move_the_cursor_and_scroll() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.show(names(30))
        await pilot.press("down", "down")
        assert table.cursor_key == "k02"
        await pilot.press("pagedown")
        assert table.cursor_key == "k13" and table.scroll_offset.y > 0
        await pilot.press("end")
        assert table.cursor_key == "k29" and table.scroll_offset.y == table.max_scroll_y
        await pilot.press("pageup")
        assert table.cursor_key == "k18"
        await pilot.press("home")
        assert table.cursor_key == "k00" and table.scroll_offset.y == 0
        highlighted = [m.row_key for m in app.messages if isinstance(m, KeyedTable.RowHighlighted)]
        assert highlighted == ["k01", "k02", "k13", "k29", "k18", "k00"]
        await pilot.press("enter")
        assert isinstance(app.messages[-1], KeyedTable.RowSelected) and app.messages[-1].row_key == "k00"


async def test_cursor_follows_its_key_until_the_row_goes() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.show(names(30))
        assert table.cursor_key == "k00"
        app.show(list(reversed(names(30))))
        assert table.cursor_key == "k29"  # untouched: stays on the top row
        await pilot.press("down")
        assert table.cursor_key == "k28"
        app.show(names(30))  # k28 moves to the bottom, out of view: the view follows
        await pilot.pause()
        assert table.cursor_key == "k28" and table.scroll_offset.y == table.max_scroll_y - 1
        app.show([key for key in names(30) if key != "k28"])
        assert table.cursor_key == "k29"  # its row went: the cursor keeps its place
        app.show([])
        assert table.cursor_key is None
        app.show(["x"])
        assert table.cursor_key == "x"


async def test_only_changed_lines_repaint_and_the_screen_follows() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(key, (key, 100 + i)) for i, key in enumerate("abcde")])
        await pilot.pause()
        table.sync([(key, (key, 777 if key == "c" else 100 + i)) for i, key in enumerate("abcde")])
        await pilot.pause()
        screen = app.export_screenshot()
        assert "777" in screen and "102" not in screen and "104" in screen


async def test_click_highlights_then_selects() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        app.show(names(5))
        await pilot.click(KeyedTable, offset=(2, 3))  # line 3: the third row
        assert [(type(m).__name__, m.row_key) for m in app.messages] == [("RowHighlighted", "k02")]
        await pilot.click(KeyedTable, offset=(2, 3))
        assert [(type(m).__name__, m.row_key) for m in app.messages][-1] == ("RowSelected", "k02")
        await pilot.click(KeyedTable, offset=(2, 0))  # the header: nothing
        await pilot.click(KeyedTable, offset=(2, 9))  # below the rows: nothing
        assert len(app.messages) == 2


async def test_row_count_changes_lay_out_only_for_the_scrollbar() -> None:
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.show(names(5))
        await pilot.pause()
        layouts: list[object] = []
        app.screen.screen_layout_refresh_signal.subscribe(app, layouts.append, immediate=True)
        for count in (4, 8, 3):
            app.show(names(count))
            await pilot.pause()
        assert layouts == [] and not table.show_vertical_scrollbar
        app.show(names(30))  # the scrollbar appears: that takes a layout (or two)
        for _ in range(3):
            await pilot.pause()
        assert layouts and table.show_vertical_scrollbar
        laid_out = len(layouts)
        await pilot.press("end")
        app.show(names(20))  # fewer rows, still scrolling: no layout, scrolled back into range
        await pilot.pause()
        assert len(layouts) == laid_out
        assert table.scroll_offset.y == table.max_scroll_y == 20 + 1 - SIZE[1]
        assert table.vertical_scrollbar.window_virtual_size == 21


class HistogramApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LatencyHistogram()


async def test_histogram_keeps_its_height_until_refit() -> None:
    app = HistogramApp()
    async with app.run_test(size=(60, 20)) as pilot:
        histogram = app.query_one(LatencyHistogram)
        wide = [0] * 10 + [5, 9, 3, 1] + [0] * 10
        narrow = [0] * 11 + [9, 3] + [0] * 11
        histogram.show("read", wide)
        await pilot.pause()
        assert histogram.size.height == 5  # title and four slots
        histogram.show("read", narrow)
        await pilot.pause()
        assert histogram.size.height == 5  # no layout for a narrower tick
        assert "(no calls" not in str(histogram.render())
        histogram.fit_height()
        await pilot.pause()
        assert histogram.size.height == 3
