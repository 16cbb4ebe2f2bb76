"""Tables of rows (tuples of NamedTuples, mappings of dataclasses) by column.

Whole table (a key frame, or no usable previous table)::

    {"y": type, "f": [field, ...], "n": rows, "c": [column, ...], "k": keys column}

Delta against the previous frame's table at the same place::

    {"y": type, "f": fields, "r": runs, "N": {"n", "c", "k"} new rows,
     "P": changed rows, "p": their positions (blob), "d": [change column, ...]}

Rows are matched by key (``RecordType.key``, or the mapping's key). ``r`` lists
``start, length`` pairs rebuilding the new order: a run of the previous table's
rows from ``start``, or, with ``start`` -1, the next rows of ``N``. Only
changed rows are stored, each field as a difference from the old row; rows
whose counters did not move (most of them: counters are cumulative) cost
nothing. ``k`` (keys) is present only for mappings.

Columns: ``["c", node]`` one value for every row; ``["i", blob, delta]``
integers (``delta``: stored as differences down the column); ``["h", blob,
width]`` tuples of integers of one width (histograms); ``["u", [string, ...],
lengths blob, indexes blob]`` tuples of strings (stack frames: each distinct
string once; format version 2); ``["j", [node, ...]]`` anything else.
Change columns: ``["z"]`` unchanged; ``["i", blob]`` and ``["h", blob,
width]`` differences; ``["s", [[row, node], ...]]`` new values of
the rows that changed.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from bpftop.record import types
from bpftop.record.columns import BodyError, pack_ints, unpack_ints

# Per table: beyond any table bpftop records (its BPF maps hold at most 16,384
# entries; Frame.procs holds the machine's processes).
MAX_ROWS = 1 << 20


def encode_table(enc: Any, value: Sequence[Any] | Mapping[Any, Any], prev: Any) -> tuple[Any, bool]:
    """Encode a tuple (tag ``t``) or a mapping (tag ``T``) of rows of one type."""
    mapping = isinstance(value, Mapping)
    rows = list(value.values()) if isinstance(value, Mapping) else list(value)
    keys = list(value) if isinstance(value, Mapping) else None
    rtype = types.for_class(type(rows[0]))
    tag = "T" if mapping else "t"
    spec: dict[str, Any] = {"y": rtype.name, "f": list(rtype.fields)}
    usable = (
        (isinstance(prev, Mapping) if mapping else type(prev) is tuple)
        and prev
        and type(next(iter(prev.values())) if mapping else prev[0]) is rtype.cls
    )
    if usable:
        delta = _delta(enc, rtype, rows, keys, prev)
        if delta is not None:
            spec.update(delta)
            same = delta["r"] == [0, len(rows)] and len(prev) == len(rows) and not delta["P"]
            return {tag: spec}, same
    spec.update(_literal(enc, rtype, rows, keys))
    return {tag: spec}, False


def _delta(
    enc: Any, rtype: types.RecordType, rows: list[Any], keys: list[Any] | None, prev: Any
) -> dict[str, Any] | None:
    old_rows = list(prev.values()) if keys is not None else list(prev)
    if keys is not None:
        cur_keys, old_keys = keys, list(prev)
        where = _positions(cur_keys, old_keys)
    else:
        key_of = rtype.key_of()
        cur_keys = list(map(key_of, rows)) if key_of else rows
        old_keys = list(map(key_of, old_rows)) if key_of else old_rows
        where = _positions(cur_keys, old_keys)
        if where is None and key_of is not None:  # the key fields do not identify rows here
            cur_keys, old_keys = rows, old_rows
            where = _positions(cur_keys, old_keys)
    if where is None:
        return None
    if cur_keys == old_keys:  # the usual case: the same rows in the same order
        runs, new_positions = [0, len(rows)], list[int]()
        changed = [p for p, (a, b) in enumerate(zip(rows, old_rows, strict=True)) if a is not b and a != b]
    else:
        runs, new_positions, changed = _runs(cur_keys, where, rows, old_rows)
    out: dict[str, Any] = {"r": runs, "P": len(changed)}
    if new_positions:
        new_keys = [keys[p] for p in new_positions] if keys is not None else None
        out["N"] = _literal(enc, rtype, [rows[p] for p in new_positions], new_keys)
    if changed:
        out["p"] = enc.blob(pack_ints([b - a for a, b in zip([-1, *changed], changed, strict=False)]))
        olds = [old_rows[where[cur_keys[p]]] for p in changed]
        cur_cols = list(zip(*map(rtype.values, (rows[p] for p in changed)), strict=False))
        old_cols = list(zip(*map(rtype.values, olds), strict=False))
        out["d"] = [_change_column(enc, c, o) for c, o in zip(cur_cols, old_cols, strict=False)]
    return out


def _runs(
    cur_keys: list[Any], where: dict[Any, int], rows: list[Any], old_rows: list[Any]
) -> tuple[list[int], list[int], list[int]]:
    """The runs rebuilding the new order, the positions of new rows, those of changed rows."""
    indexes = [where.get(key, -1) for key in cur_keys]
    new_positions = [pos for pos, index in enumerate(indexes) if index < 0]
    changed = [
        pos
        for pos, (index, row) in enumerate(zip(indexes, rows, strict=True))
        if index >= 0 and row is not old_rows[index] and row != old_rows[index]
    ]
    # A run continues while the old index goes up by one (or, for new rows, stays -1).
    runs: list[int] = []
    start, length = -2, 0
    for index in indexes:
        if index == start + length if start >= 0 else index == start:
            length += 1
            continue
        if length:
            runs += [start, length]
        start, length = index, 1
    if length:
        runs += [start, length]
    return runs, new_positions, changed


def _positions(cur_keys: list[Any], old_keys: list[Any]) -> dict[Any, int] | None:
    """Old key -> old index; None unless keys are unique (and hashable) in both tables."""
    try:
        where = dict(zip(old_keys, range(len(old_keys)), strict=False))
        if len(where) != len(old_keys) or len(set(cur_keys)) != len(cur_keys):
            return None
    except TypeError:
        return None
    return where


def _ints(column: Sequence[Any]) -> bool:
    return set(map(type, column)) == {int}  # not bools: the type must be exactly int


def _width(column: Sequence[Any]) -> int | None:
    """The common length of a column of integer tuples, None if it is not one."""
    if set(map(type, column)) != {tuple}:
        return None
    widths = set(map(len, column))
    if len(widths) != 1:
        return None
    width = widths.pop()
    return width if width and set(map(type, itertools.chain.from_iterable(column))) == {int} else None


def _change_column(enc: Any, cur: tuple[Any, ...], old: tuple[Any, ...]) -> list[Any]:
    if cur == old and list(map(type, cur)) == list(map(type, old)):
        return ["z"]
    if _ints(cur) and _ints(old):
        blob = pack_ints(list(map(operator.sub, cur, old)))
        if blob is not None:
            return ["i", enc.blob(blob)]
    width = _width(cur)
    if width is not None and _width(old) == width:
        flat = itertools.chain.from_iterable
        blob = pack_ints(list(map(operator.sub, flat(cur), flat(old))))
        if blob is not None:
            return ["h", enc.blob(blob), width]
    return [
        "s",
        [
            [k, enc.node(a, b)[0]]
            for k, (a, b) in enumerate(zip(cur, old, strict=False))
            if a != b or type(a) is not type(b)
        ],
    ]


def _literal(enc: Any, rtype: types.RecordType, rows: list[Any], keys: list[Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": len(rows),
        "c": [_column(enc, col) for col in zip(*map(rtype.values, rows), strict=False)],
    }
    if keys is not None:
        out["k"] = _column(enc, keys)
    return out


def _column(enc: Any, column: Sequence[Any]) -> list[Any]:
    first = column[0]
    if column.count(first) == len(column) and len(set(map(type, column))) == 1:
        return ["c", enc.node(first)[0]]
    if _ints(column):
        diffs = [b - a for a, b in zip([0, *column], column, strict=False)]
        use_diffs = sum(map(abs, diffs)) < sum(map(abs, column))
        blob = pack_ints(diffs if use_diffs else list(column))
        if blob is not None:
            return ["i", enc.blob(blob), int(use_diffs)]
    width = _width(column)
    if width is not None:
        blob = pack_ints(list(itertools.chain.from_iterable(column)))
        if blob is not None:
            return ["h", enc.blob(blob), width]
    if _strings(column):
        # Stacks share most of their frames: each name once, then indexes.
        index: dict[str, int] = {}
        flat = [index.setdefault(name, len(index)) for name in itertools.chain.from_iterable(column)]
        lengths, indexes = pack_ints(list(map(len, column))), pack_ints(flat)
        if lengths is not None and indexes is not None:
            return ["u", list(index), enc.blob(lengths), enc.blob(indexes)]
    return ["j", [enc.node(v)[0] for v in column]]


def _strings(column: Sequence[Any]) -> bool:
    """A column of tuples of strings (not all empty)."""
    if set(map(type, column)) != {tuple}:
        return False
    kinds = set(map(type, itertools.chain.from_iterable(column)))
    return kinds == {str}


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise BodyError(message)


def _count(value: Any, limit: int = MAX_ROWS) -> int:
    _need(type(value) is int and 0 <= value <= limit, f"bad count {value!r}")
    return int(value)


def decode_table(dec: Any, spec: Any, prev: Any, *, mapping: bool) -> Any:
    """Rebuild a tuple (or, ``mapping``, a dict) of rows from a table node."""
    _need(type(spec) is dict and type(spec.get("f")) is list, "bad table node")
    rtype = types.by_name(spec.get("y"))
    fields = tuple(spec["f"])
    _need(all(type(f) is str for f in fields), "bad field names")
    if "r" not in spec:
        rows, keys = _decode_literal(dec, rtype, fields, spec, mapping)
    else:
        _need(isinstance(prev, Mapping) if mapping else type(prev) is tuple, "delta without a previous table")
        old_rows = list(prev.values()) if mapping else list(prev)
        old_keys = list(prev) if mapping else None
        new_rows, new_keys = (
            _decode_literal(dec, rtype, fields, spec["N"], mapping) if "N" in spec else ([], [])
        )
        rows, keys = _apply_runs(spec["r"], old_rows, old_keys, new_rows, new_keys)
        _apply_changes(dec, rtype, fields, spec, rows)
    if mapping:
        _need(len(set(keys)) == len(keys), "duplicate keys")
        return dict(zip(keys, rows, strict=False))
    return tuple(rows)


def _decode_literal(
    dec: Any, rtype: types.RecordType, fields: tuple[str, ...], spec: Any, mapping: bool
) -> tuple[list[Any], list[Any]]:
    _need(type(spec) is dict and type(spec.get("c")) is list, "bad literal table")
    count = _count(spec.get("n"))
    _need(len(spec["c"]) == len(fields), "columns do not match fields")
    dec.spend(count * (len(fields) + mapping), rows=count)  # before any column is built
    columns = [_decode_column(dec, c, count) for c in spec["c"]]
    for name, column, column_spec in zip(fields, columns, spec["c"], strict=True):
        # Integer and histogram columns hold integers by construction; others are checked.
        _need(
            column_spec[0] in ("i", "h")
            or rtype.valid(name, column[:1] if column_spec[0] == "c" else column),
            f"{rtype.name}.{name}: values of the wrong type",
        )
    build = rtype.builder(fields)
    rows = list(map(build, zip(*columns, strict=False))) if columns else [build(()) for _ in range(count)]
    keys = _decode_column(dec, spec.get("k"), count) if mapping else []
    return rows, keys


def _decode_column(dec: Any, spec: Any, count: int) -> list[Any]:
    _need(type(spec) is list and bool(spec), "bad column")
    kind = spec[0]
    if kind == "c" and len(spec) == 2:
        return [dec.node(spec[1])] * count
    if kind == "i" and len(spec) == 3:
        dec.spend(count)
        values = unpack_ints(dec.blob(spec[1]), count)
        return list(itertools.accumulate(values)) if spec[2] else values
    if kind == "h" and len(spec) == 3:
        width = _count(spec[2], 1 << 16)
        dec.spend(count * width)
        flat = unpack_ints(dec.blob(spec[1]), count * width)
        return [tuple(flat[i * width : (i + 1) * width]) for i in range(count)]
    if kind == "j" and len(spec) == 2 and type(spec[1]) is list and len(spec[1]) == count:
        return [dec.node(v) for v in spec[1]]
    if kind == "u" and len(spec) == 4 and type(spec[1]) is list:
        names = spec[1]
        _need(all(type(n) is str for n in names), "bad string table")
        lengths = unpack_ints(dec.blob(spec[2]), count)
        _need(all(n >= 0 for n in lengths), "bad string tuple lengths")
        dec.spend(sum(lengths))
        flat = unpack_ints(dec.blob(spec[3]), sum(lengths))
        _need(all(0 <= i < len(names) for i in flat), "string index out of range")
        words = [names[i] for i in flat]
        ends = list(itertools.accumulate(lengths))
        return [tuple(words[end - n : end]) for n, end in zip(lengths, ends, strict=True)]
    raise BodyError(f"bad column {str(spec)[:40]!r}")


def _apply_runs(
    runs: Any, old_rows: list[Any], old_keys: list[Any] | None, new_rows: list[Any], new_keys: list[Any]
) -> tuple[list[Any], list[Any]]:
    _need(type(runs) is list and len(runs) % 2 == 0, "bad runs")
    rows: list[Any] = []
    keys: list[Any] = []
    taken = reused = 0
    for start, length in zip(runs[::2], runs[1::2], strict=False):
        _count(length)
        if start != -1:
            # Each old row goes to the new table once (keys are unique): runs
            # naming rows again would multiply a table from a few bytes of JSON.
            reused += length
            _need(reused <= len(old_rows), "runs take more old rows than the previous table has")
        if start == -1:
            _need(taken + length <= len(new_rows), "runs take more new rows than stored")
            rows += new_rows[taken : taken + length]
            keys += new_keys[taken : taken + length]
            taken += length
        else:
            _need(type(start) is int and start >= 0 and start + length <= len(old_rows), "bad run")
            rows += old_rows[start : start + length]
            if old_keys is not None:
                keys += old_keys[start : start + length]
        _need(len(rows) <= MAX_ROWS, "too many rows")
    _need(taken == len(new_rows), "new rows left over")
    return rows, keys


def _apply_changes(
    dec: Any, rtype: types.RecordType, fields: tuple[str, ...], spec: Any, rows: list[Any]
) -> None:
    count = _count(spec.get("P"), len(rows))
    if not count:
        return
    dec.spend(count * len(fields))
    steps = unpack_ints(dec.blob(spec.get("p")), count)
    positions = list(itertools.accumulate(steps, initial=-1))[1:]
    _need(min(steps) > 0 and positions[-1] < len(rows), "bad changed positions")
    changes = spec.get("d")
    _need(type(changes) is list and len(changes) == len(fields), "change columns do not match fields")
    olds = list(map(rows.__getitem__, positions))
    columns: list[Any] = list(zip(*(olds if rtype.is_tuple else map(rtype.values, olds)), strict=True))
    for change, index in zip(changes, rtype.index_in(fields), strict=True):
        if index is not None:  # a field this bpftop no longer has: ignored
            columns[index] = _apply_change(dec, change, columns[index])
            if type(change) is list and change[:1] == ["s"]:
                _need(rtype.valid(rtype.fields[index], columns[index]), "changed values of the wrong type")
    for pos, row in zip(positions, map(rtype.builder(rtype.fields), zip(*columns, strict=True)), strict=True):
        rows[pos] = row


def _apply_change(dec: Any, spec: Any, old: list[Any]) -> list[Any]:
    _need(type(spec) is list and bool(spec), "bad change column")
    kind, count = spec[0], len(old)
    if kind == "z":
        return old
    if kind == "i" and len(spec) == 2:
        return list(map(operator.add, old, unpack_ints(dec.blob(spec[1]), count)))
    if kind == "h" and len(spec) == 3:
        width = _count(spec[2], 1 << 16)
        flat = unpack_ints(dec.blob(spec[1]), count * width)
        _need(set(map(len, old)) <= {width}, "histogram width changed")
        new = list(map(operator.add, itertools.chain.from_iterable(old), flat))
        return [tuple(new[i : i + width]) for i in range(0, len(new), width)]
    if kind == "s" and len(spec) == 2 and type(spec[1]) is list:
        column = list(old)
        for entry in spec[1]:
            _need(type(entry) is list and len(entry) == 2, "bad sparse entry")
            row = _count(entry[0], count - 1)
            column[row] = dec.node(entry[1], old[row])
        return column
    raise BodyError(f"bad change column {str(spec)[:40]!r}")
