"""The one Source protocol: every source implements it, and a wrapper misses no member."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from bpftop.engine import Engine
from bpftop.frame import Frame
from bpftop.record.replay import ReplayFrames, ReplaySource
from bpftop.record.source import RecordingSource
from bpftop.record.writer import RecordingWriter
from bpftop.source import DelegatingSource, Source
from tests.fakes import HOST, FakeSource


def public_members(cls: type) -> set[str]:
    """Methods, properties and declared attributes, without the private ones."""
    names = {n for n in dir(cls) if not n.startswith("_")}
    return names | {n for n in inspect.get_annotations(cls) if not n.startswith("_")}


def test_the_delegating_source_passes_on_every_member() -> None:
    # A member added to Source that DelegatingSource does not override would
    # silently take the base's default behind --record (commit 706e4a4's bug).
    missing = public_members(Source) - set(vars(DelegatingSource))
    assert not missing, f"DelegatingSource does not pass on {sorted(missing)}"


@pytest.mark.parametrize("cls", [Engine, RecordingSource, ReplaySource, ReplayFrames])
def test_every_source_is_one(cls: type) -> None:
    assert issubclass(cls, Source) and not inspect.isabstract(cls)


def test_live_source_derives_each_frame_against_the_one_before() -> None:
    source = FakeSource()
    first = source.advance()
    second = source.advance()
    assert first.prev is None and first.fresh and first.detail is None
    assert second.prev is first.cur and second.fresh
    assert source.replay is None and not source.live and source.record_label == ""
    with pytest.raises(LookupError):
        source.query("bpfstats", "prog", 1)


class _Inner(FakeSource):
    live = True

    def __init__(self) -> None:
        super().__init__()
        self.options: list[tuple[str, object]] = []

    def set_option(self, name: str, value: object) -> None:
        self.options.append((name, value))

    def query(self, collector: str, *args: object) -> object:
        return (collector, *args)


def test_recording_source_records_what_it_hands_out_and_passes_the_rest_on(tmp_path: Path) -> None:
    inner = _Inner()
    writer = RecordingWriter(str(tmp_path / "r"), host=HOST, collectors=["syscalls"], delay_s=1.0)
    source = RecordingSource(inner, writer)
    assert isinstance(source.tick(), Frame)
    step = source.advance()
    assert step.prev is None and step.fresh  # the engine's own sequence: tick() did not advance it
    source.advance()
    assert writer.frames == 3
    assert source.live and source.query("bpfstats", "prog", 7) == ("bpfstats", "prog", 7)
    assert source.replay is None and source.record_label == "REC"
    source.delay_s = 2.0
    assert inner.delay_s == 2.0 and source.status == inner.status
    source.set_focus(100)
    source.set_option("visible_pane", "bpf")
    source.set_option("syscall_latency", False)  # a replay may show any pane's latency: kept timed
    assert inner.focus_calls == [100] and inner.options == [("visible_pane", "bpf")]
    source.close()
    assert inner.close_calls == 1
