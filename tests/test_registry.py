"""The registry: every entry names modules and classes that exist, and it stays a leaf."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from bpftop import registry
from bpftop.collectors.base import Collector
from bpftop.panes.table import TablePane
from bpftop.registry import PANES, STEMS


@pytest.mark.parametrize("name", list(STEMS))
def test_stem_names_its_layers(name: str) -> None:
    stem = STEMS[name]
    assert stem.name == name
    collector = registry.resolve(stem.collector)
    # The engine calls set_focus, forget and set_option on each: the base has them as no-ops.
    assert issubclass(collector, Collector) and collector.name == name
    assert callable(importlib.import_module(stem.deriver).derive_view)
    section = importlib.import_module(stem.section)
    assert callable(section.json_section) and callable(section.text_section)
    assert set(stem.fallback_objects) <= set(stem.objects)
    assert set(stem.batch_panes) <= set(PANES)


@pytest.mark.parametrize("name", list(PANES))
def test_pane_names_its_class_and_collectors(name: str) -> None:
    pane = PANES[name]
    cls = registry.resolve(pane.pane_class)
    assert issubclass(cls, TablePane)
    assert cls.COLLECTOR in pane.collectors  # its load error is one of its own collectors'
    assert set(pane.collectors) <= set(STEMS)
    assert set(pane.views) <= set(STEMS)


def test_collectors_for_keeps_the_opening_order() -> None:
    assert registry.collectors_for(["stacks", "syscalls"]) == ["syscalls", "stacks"]
    assert registry.collectors_for(list(PANES)) == list(STEMS)


def test_registry_imports_nothing_from_bpftop() -> None:
    """Every layer reads it, so it must import none of them (no upward import)."""
    tree = ast.parse(Path(inspect.getfile(registry)).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("bpftop")]


def test_the_engine_calls_a_collector_s_defaults_without_probing() -> None:
    from bpftop.collectors.base import Filters
    from bpftop.engine import Engine

    class Bare(Collector):
        name = "bare"
        method = "test"

        def open(self, filters: Filters) -> None:
            pass

        def sample(self) -> object:
            return None

        def pids(self, sample: object) -> set[int]:
            return set()

        def close(self) -> None:
            pass

    engine = Engine([], Filters())
    engine._collectors["bare"] = Bare()
    engine.set_focus(42)
    engine.set_option("visible_pane", "procs")
    with pytest.raises(LookupError, match="answers no queries"):
        engine.query("bare", "prog", 1)
    Bare().forget({1})


def test_the_engine_gives_procinfo_the_first_collector_s_comm_of_each_pid() -> None:
    from typing import NamedTuple

    from bpftop.collectors.base import Filters, pid_comms
    from bpftop.engine import Engine
    from bpftop.frame import ProcMeta

    class Row(NamedTuple):
        pid: int
        comm: str

    class Named(Collector):
        method = "test"

        def __init__(self, name: str, rows: tuple[Row, ...]) -> None:
            self.name, self.rows = name, rows

        def open(self, filters: Filters) -> None:
            pass

        def sample(self) -> tuple[Row, ...]:
            return self.rows

        def pids(self, sample: tuple[Row, ...]) -> set[int]:
            return {r.pid for r in sample}

        def comms(self, sample: tuple[Row, ...]) -> dict[int, str]:
            return pid_comms(sample)

        def close(self) -> None:
            pass

    assert pid_comms(()) == {}
    engine = Engine([], Filters())
    engine._collectors["a"] = Named("a", (Row(1, "first"), Row(2, "two")))
    engine._collectors["b"] = Named("b", (Row(1, "second"), Row(3, "three")))
    seen = {}

    def lookup(pids: set[int], comms: dict[int, str]) -> dict[int, ProcMeta]:
        seen.update(comms)
        return {pid: ProcMeta(pid) for pid in pids}

    engine._procinfo.lookup = lookup  # type: ignore[method-assign]
    engine.tick()
    assert seen == {1: "first", 2: "two", 3: "three"}


def test_every_stem_has_a_typed_view_accessor() -> None:
    # Derived.view's overloads type each stem's view (issue 21, move 5): a new
    # collector adds its line there, or its callers get Any back.
    import re
    import typing

    from bpftop.derive import Derived

    typed = {
        m.group(1)
        for f in typing.get_overloads(Derived.view)
        if (m := re.fullmatch(r"Literal\[['\"](\w+)['\"]\]", f.__annotations__["stem"]))
    }
    assert typed == set(STEMS)
