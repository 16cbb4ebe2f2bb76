"""The registry: every entry names modules and classes that exist, and it stays a leaf."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from bpftop import registry
from bpftop.panes.table import TablePane
from bpftop.registry import PANES, STEMS


@pytest.mark.parametrize("name", list(STEMS))
def test_stem_names_its_layers(name: str) -> None:
    stem = STEMS[name]
    assert stem.name == name
    collector = registry.resolve(stem.collector)
    assert inspect.isclass(collector) and collector.name == name  # Collector is a protocol
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
