"""`bpftop profile` writers: folded stacks parse line by line, speedscope validates (no root)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bpftop.commands.profile import build_parser, profile_main, speedscope, write_profile
from bpftop.derive.stacks import StackRow

SCHEMA = Path(__file__).parent / "fixtures" / "speedscope-schema.json"
ROWS = [
    StackRow(10, "app", ("main", "spin_hot"), "uu", 75, 75),
    StackRow(10, "app", ("main", "spin_cold", "lib_spin"), "uuu", 25, 25),
    StackRow(11, "sh", ("main", "read", "entry_SYSCALL_64", "ksys_read"), "uukk", 7, 7),
    StackRow(12, "idle", (), "", 3, 3),
    StackRow(13, "gone", ("main",), "u", 0, 0),
]


def parse_folded(text: str) -> dict[tuple[str, ...], int]:
    """A folded-stacks line parser: ``frame;frame;... VALUE`` (the value after the last space)."""
    stacks: dict[tuple[str, ...], int] = {}
    for line in text.splitlines():
        stack, _, value = line.rpartition(" ")
        assert stack and value.isdigit(), line
        frames = tuple(stack.split(";"))
        assert all(frames), line
        stacks[frames] = stacks.get(frames, 0) + int(value)
    return stacks


def test_folded_round_trips_through_a_line_parser() -> None:
    out = io.StringIO()
    write_profile(ROWS, "folded", False, out)
    stacks = parse_folded(out.getvalue())
    assert stacks == {
        ("app", "main", "spin_hot"): 75,
        ("app", "main", "spin_cold", "lib_spin"): 25,
        ("sh", "main", "read", "entry_SYSCALL_64", "ksys_read"): 7,  # user frames, then kernel
        ("idle", "[no stack]"): 3,
    }


def test_speedscope_validates_against_its_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    out = io.StringIO()
    write_profile(ROWS, "speedscope", True, out, name="test")
    doc = json.loads(out.getvalue())
    jsonschema.validate(doc, schema)
    frames = [f["name"] for f in doc["shared"]["frames"]]
    assert len(frames) == len(set(frames))
    assert [p["name"] for p in doc["profiles"]] == ["app (10)", "sh (11)", "idle (12)"]
    app = doc["profiles"][0]
    assert app["unit"] == "nanoseconds" and app["endValue"] == 100 == sum(app["weights"])
    stacks = {tuple(frames[i] for i in s): w for s, w in zip(app["samples"], app["weights"], strict=True)}
    assert stacks == {("main", "spin_hot"): 75, ("main", "spin_cold", "lib_spin"): 25}
    assert speedscope(ROWS, False)["profiles"][0]["unit"] == "none"


def test_schema_rejects_a_broken_file() -> None:
    """The vendored schema is the real one: it catches a profile without weights."""
    jsonschema = pytest.importorskip("jsonschema")
    doc = speedscope(ROWS, False)
    del doc["profiles"][0]["weights"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def test_profile_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--pid", "5", "--duration", "3", "--off-cpu", "--format", "speedscope"])
    assert (args.pid, args.duration, args.off_cpu, args.format, args.freq) == (5, 3.0, True, "speedscope", 49)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--format", "svg"])
    for option in ("--freq", "--duration"):
        with pytest.raises(SystemExit) as exc:
            profile_main([option, "0"])
        assert exc.value.code == 2 and f"argument {option}" in capsys.readouterr().err
