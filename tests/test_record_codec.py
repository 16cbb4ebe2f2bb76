"""The frame codec: exact round trips, deltas, and reading classes that changed (no root)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpftop.collectors.syscalls import ProcSyscall, SyscallsSample
from bpftop.derive import derive
from bpftop.frame import Frame, ProcMeta
from bpftop.record import types
from bpftop.record.codec import decode_frame, encode_frame
from bpftop.record.columns import BodyError, pack_ints, unpack_ints
from tests.fakes import FakeSource


def fake_frames(n: int = 12) -> list[Frame]:
    """Frames with growing counters, a process exiting and a focus change."""
    source = FakeSource()
    frames = [source.tick() for _ in range(n // 2)]
    source.kill(100)
    source.set_focus(200)
    frames += [source.tick() for _ in range(n - n // 2)]
    return frames


def round_trip(frames: list[Frame]) -> list[Frame]:
    out, prev = [], None
    for frame in frames:
        decoded, unknown = decode_frame(encode_frame(frame, prev), prev)
        assert not unknown
        out.append(decoded)
        prev = frame
    return out


def test_key_and_delta_frames_round_trip_exactly() -> None:
    frames = fake_frames()
    assert decode_frame(encode_frame(frames[0]))[0] == frames[0]
    assert round_trip(frames) == frames


def test_derived_output_is_the_same_after_a_round_trip() -> None:
    frames = fake_frames()
    decoded = round_trip(frames)
    for i in range(1, len(frames)):
        assert derive(decoded[i - 1], decoded[i]) == derive(frames[i - 1], frames[i])


def test_a_delta_stores_only_changed_rows() -> None:
    frames = fake_frames(4)
    still = dataclasses.replace(frames[1], ts_ns=frames[1].ts_ns + 1)
    assert len(encode_frame(still, frames[1])) < len(encode_frame(frames[2], frames[1])) / 3


def test_values_of_every_kind_survive() -> None:
    @dataclass(frozen=True)
    class Odd:
        big: int = 1 << 70
        neg: int = -(1 << 63)
        nan: float = math.inf
        raw: bytes = b"\x00\xff"
        items: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
        nested: tuple[tuple[str, int], ...] = (("EBADF", 3),)
        keyed: dict[str, int] = dataclasses.field(default_factory=lambda: {"a": 1})
        flag: bool = True
        nothing: None = None

    types.register(Odd, "testcodec.Odd")
    frame = Frame(ts_ns=1, wall=2.5, samples={"odd": Odd()})
    assert decode_frame(encode_frame(frame))[0] == frame
    changed = Frame(ts_ns=2, wall=3.5, samples={"odd": Odd(big=1 << 71, items=[3], flag=False)})
    assert decode_frame(encode_frame(changed, frame), frame)[0] == changed


def test_unregistered_types_outside_bpftop_are_refused() -> None:
    @dataclass(frozen=True)
    class Stranger:
        x: int = 0

    with pytest.raises(TypeError, match="not registered"):
        encode_frame(Frame(ts_ns=1, wall=1.0, samples={"s": Stranger()}))


class OldRow(NamedTuple):
    pid: int
    calls: int
    gone: str  # a field later versions drop


class NewRow(NamedTuple):
    pid: int
    calls: int
    latency_ns: int = 7  # a field later versions add, with a default


@dataclass(frozen=True)
class OldSample:
    rows: tuple[OldRow, ...]


@dataclass(frozen=True)
class NewSample:
    rows: tuple[NewRow, ...]
    extra: str = "default"


def test_old_files_read_with_new_classes_and_new_files_with_old() -> None:
    types.register(OldRow, "testcompat.Row")
    types.register(OldSample, "testcompat.Sample")
    first = Frame(ts_ns=1, wall=1.0, samples={"x": OldSample((OldRow(1, 10, "a"), OldRow(2, 20, "b")))})
    second = Frame(ts_ns=2, wall=2.0, samples={"x": OldSample((OldRow(1, 15, "a"), OldRow(3, 1, "c")))})
    key, delta = encode_frame(first), encode_frame(second, first)
    types.register(NewRow, "testcompat.Row")  # the reader's bpftop is newer
    types.register(NewSample, "testcompat.Sample")
    read1, _ = decode_frame(key)
    read2, _ = decode_frame(delta, read1)
    assert read1.samples["x"] == NewSample((NewRow(1, 10), NewRow(2, 20)))
    assert read2.samples["x"] == NewSample((NewRow(1, 15), NewRow(3, 1)))


def test_unknown_sample_types_are_dropped_and_named() -> None:
    @dataclass(frozen=True)
    class Future:
        value: int = 1

    types.register(Future, "futurestem.FutureSample")
    frame = Frame(
        ts_ns=1, wall=1.0, samples={"future": Future(), "syscalls": fake_frames(1)[0].samples["syscalls"]}
    )
    body = encode_frame(frame)
    types._by_name.pop("futurestem.FutureSample")  # a bpftop that never heard of it
    types._by_class.pop(Future)
    decoded, unknown = decode_frame(body)
    assert set(decoded.samples) == {"syscalls"}
    assert any("futurestem" in u for u in unknown)


def test_types_resolve_only_from_bpftop_modules() -> None:
    from bpftop.record.errors import UnknownTypeError

    assert types.by_name("syscalls.ProcSyscall").cls is ProcSyscall
    for name in ("os.system", "frame.os", "../x.Y", "syscalls.HIST_SLOTS", 42):
        with pytest.raises(UnknownTypeError):
            types.by_name(name)  # type: ignore[arg-type]


@given(st.lists(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), max_size=50))
def test_integer_columns_round_trip(values: list[int]) -> None:
    blob = pack_ints(values)
    assert blob is not None
    assert unpack_ints(blob, len(values)) == values


def test_integer_columns_refuse_wrong_sizes() -> None:
    assert pack_ints([1 << 64]) is None
    blob = pack_ints([1, 2, 3])
    assert blob is not None
    for bad in (blob[:-1], blob + b"\0", b"\x03" + blob[1:]):
        with pytest.raises(BodyError):
            unpack_ints(bad, 3)


rows_strategy = st.dictionaries(
    st.tuples(st.integers(1, 40), st.sampled_from([0, 1, 3, 257])),
    st.tuples(st.integers(0, 10**6), st.integers(0, 50), st.integers(0, 10**12), st.text(max_size=3)),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(rows_strategy, st.randoms(use_true_random=False)), min_size=1, max_size=5))
def test_tables_survive_any_sequence_of_changes(steps: list) -> None:  # type: ignore[type-arg]
    frames = []
    for index, (rows, rng) in enumerate(steps):
        pairs = [ProcSyscall(pid, nr, c, e, t, 0, comm) for (pid, nr), (c, e, t, comm) in rows.items()]
        rng.shuffle(pairs)
        sample = SyscallsSample(ts_ns=index, arch="x86_64", syscalls=(), procs=tuple(pairs), errnos=())
        metas = {pid: ProcMeta(pid, name=comm or "x") for (pid, _), (_, _, _, comm) in rows.items()}
        frames.append(Frame(ts_ns=index, wall=float(index), samples={"syscalls": sample}, procs=metas))
    assert round_trip(frames) == frames


def test_stack_frames_are_stored_once_per_distinct_name() -> None:
    from bpftop.collectors.stacks import StackCount, StacksSample
    from bpftop.record.columns import split_body
    from tests.fakes import HOST

    hot = tuple(f"std::vector<int>::push_back_{i % 7}" for i in range(30))
    rows = tuple(StackCount(pid, "app", (*hot, f"leaf_é{pid}"), "u" * 31, pid, 0) for pid in range(1, 200))
    rows += (StackCount(500, "odd", (), "", 1, 0),)  # an empty stack
    sample = StacksSample(ts_ns=1, freq_hz=49, min_block_ns=1000, cpu=rows, off=())
    frame = Frame(ts_ns=1, wall=1.0, samples={"stacks": sample}, procs={}, status=(), host=HOST)
    body = encode_frame(frame)
    skeleton = split_body(body)[0].decode()
    assert skeleton.count("push_back_3") == 1 and '"u"' in skeleton
    assert decode_frame(body)[0] == frame


@pytest.mark.parametrize(
    ("names", "lengths", "indexes"),
    [(["a"], [1, 1], [0, 1]), ([1], [1, 0], [0]), (["a"], [2, 0], [0]), (["a"], [-1, 2], [0])],
)
def test_a_bad_string_column_is_a_format_error(
    names: list[object], lengths: list[int], indexes: list[int]
) -> None:
    from bpftop.record.codec import Decoder
    from bpftop.record.tables import _decode_column

    blobs = [memoryview(pack_ints(lengths) or b""), memoryview(pack_ints(indexes) or b"")]
    with pytest.raises(BodyError):
        _decode_column(Decoder(blobs, 1000), ["u", names, 0, 1], 2)


def test_named_tuple_fields_missing_from_a_file_take_zeros_and_values_are_type_checked() -> None:
    from bpftop.collectors.syscalls import SyscallTotals

    rtype = types.for_class(SyscallTotals)  # NamedTuple annotations are ForwardRefs here
    assert (rtype.default("errors"), rtype.default("hist")) == (0, ())
    assert rtype.valid("calls", [1, 2]) and not rtype.valid("calls", [1, None])
    assert (
        not rtype.valid("calls", [True])
        and rtype.valid("hist", [(1, 2)])
        and not rtype.valid("hist", [(1, "x")])
    )
