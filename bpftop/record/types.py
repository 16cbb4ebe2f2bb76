"""Which classes a recording may hold, by a stable name, and how to rebuild them.

A class is recorded as ``<stem>.<ClassName>``: ``frame.Frame`` for
``bpftop.frame``, ``syscalls.SyscallsSample`` for
``bpftop.collectors.syscalls``. Any frozen dataclass or NamedTuple defined in
those modules is recorded without registration; ``register`` names classes
that live elsewhere. Names are resolved by importing only from those two
places, so a crafted file cannot make the reader import anything else.

Objects are stored by field name. Reading a class whose fields changed since
the file was written: a field missing from the file takes its default (a
class's new fields must have one; a zero of the annotated type is used
otherwise) and a field the class no longer has is ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import operator
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from bpftop.record.errors import UnknownTypeError

_NAME = re.compile(r"^([a-z][a-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$")
_MODULES = {"frame": "bpftop.frame"}  # any other stem: bpftop.collectors.<stem>
# Leading fields with these names identify a row (its key) between frames;
# a class may say otherwise with a ``RECORD_KEY`` tuple of field names.
IDENTITY_FIELDS = frozenset(
    {"pid", "tgid", "tid", "nr", "errno", "cpu", "id", "dev", "disk", "op", "name", "key", "slot"}
)
_ZERO_BY_ANNOTATION = (("int", 0), ("float", 0.0), ("str", ""), ("bool", False), ("bytes", b""))

# Annotations whose values a reader checks (a crafted file must not put a
# string where derive does arithmetic); others are taken as decoded.
_SCALAR_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "bytes": (bytes,),
}


def _checker(annotation: object) -> Callable[[Any], bool] | None:
    text = str(annotation).replace(" ", "")
    optional = text.endswith("|None")
    base = text[:-5] if optional else text
    if base in _SCALAR_KINDS:
        kinds = _SCALAR_KINDS[base] + ((type(None),) if optional else ())
        return lambda value: type(value) in kinds
    if base.startswith("tuple[") and base.endswith(",...]") and base[6:-5] in _SCALAR_KINDS:
        item = _SCALAR_KINDS[base[6:-5]]
        return lambda value: type(value) is tuple and all(type(v) in item for v in value)
    return None


_lock = threading.Lock()
_by_name: dict[str, RecordType] = {}
_by_class: dict[type, RecordType] = {}


class RecordType:
    """How one dataclass or NamedTuple class is recorded.

    Attributes:
        name: stable name, ``stem.ClassName``.
        cls: the class.
        fields: its field names, in order.
        is_tuple: a NamedTuple.
        key: indexes of the fields that identify a row between frames (empty:
            the whole row is its identity).
    """

    def __init__(self, name: str, cls: type) -> None:
        self.name = name
        self.cls = cls
        self.is_tuple = issubclass(cls, tuple)
        if self.is_tuple:
            self.fields: tuple[str, ...] = tuple(cls._fields)  # type: ignore[attr-defined]
            defaults: dict[str, Any] = dict(cls._field_defaults)  # type: ignore[attr-defined]
            factories: dict[str, Callable[[], Any]] = {}
            annotations = dict(getattr(cls, "__annotations__", {}))
        else:
            dc_fields = [f for f in dataclasses.fields(cls) if f.init]
            self.fields = tuple(f.name for f in dc_fields)
            defaults, factories, annotations = {}, {}, {}
            for f in dc_fields:
                if f.default is not dataclasses.MISSING:
                    defaults[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    factories[f.name] = f.default_factory
                annotations[f.name] = f.type
        self._defaults = defaults
        self._factories = factories
        # NamedTuples under ``from __future__ import annotations`` hold ForwardRefs.
        self._annotations = {name: getattr(a, "__forward_arg__", a) for name, a in annotations.items()}
        declared = getattr(cls, "RECORD_KEY", None)
        if declared is not None:
            self.key = tuple(self.fields.index(f) for f in declared)
        else:
            lead = []
            for index, field_name in enumerate(self.fields):
                if field_name not in IDENTITY_FIELDS:
                    break
                lead.append(index)
            self.key = tuple(lead)
        self.values: Callable[[Any], tuple[Any, ...]] = (
            tuple
            if self.is_tuple
            else operator.attrgetter(*self.fields)
            if len(self.fields) > 1
            else _one(self.fields)
        )
        self._builders: dict[tuple[str, ...], Callable[[Sequence[Any]], Any]] = {}
        self._checkers = {name: _checker(self._annotations.get(name, "")) for name in self.fields}

    def valid(self, field_name: str, values: Sequence[Any]) -> bool:
        """Do decoded ``values`` of a field have the field's type (when it is a checked one)?"""
        check = self._checkers.get(field_name)
        return check is None or all(map(check, values))

    def key_of(self) -> Callable[[Any], Any] | None:
        """A function giving a row's key, None when the whole row is the key."""
        if not self.key:
            return None
        if self.is_tuple:
            return operator.itemgetter(*self.key)
        return operator.attrgetter(*(self.fields[i] for i in self.key))

    def default(self, field_name: str) -> Any:
        """The value of a field the file does not have."""
        if field_name in self._defaults:
            return self._defaults[field_name]
        if field_name in self._factories:
            return self._factories[field_name]()
        annotation = str(self._annotations.get(field_name, ""))
        for prefix, zero in _ZERO_BY_ANNOTATION:
            if annotation.startswith(prefix):
                return zero
        return () if annotation.startswith("tuple") else None

    def builder(self, file_fields: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
        """A function building an instance from values in ``file_fields`` order."""
        build = self._builders.get(file_fields)
        if build is not None:
            return build
        cls = self.cls
        if file_fields == self.fields:
            # tuple.__new__ is _make without its Python-level length check: the
            # values come from as many columns as the class has fields.
            build = functools.partial(tuple.__new__, cls) if self.is_tuple else (lambda values: cls(*values))
        else:
            where = {name: i for i, name in enumerate(file_fields)}
            plan = [(where.get(name), name) for name in self.fields]

            def build(values: Sequence[Any]) -> Any:
                return cls(*(values[i] if i is not None else self.default(name) for i, name in plan))

        self._builders[file_fields] = build
        return build

    def index_in(self, file_fields: tuple[str, ...]) -> list[int | None]:
        """For each field of the file, its index in this class (None: no such field)."""
        where = {name: i for i, name in enumerate(self.fields)}
        return [where.get(name) for name in file_fields]


def _one(fields: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not fields:
        return lambda obj: ()
    get = operator.attrgetter(*fields)
    return lambda obj: (get(obj),)


def is_record_class(cls: type) -> bool:
    """A frozen dataclass or a NamedTuple."""
    return (issubclass(cls, tuple) and hasattr(cls, "_fields")) or dataclasses.is_dataclass(cls)


def register(cls: type, name: str | None = None) -> RecordType:
    """Record ``cls`` under ``name`` (default: derived from its module)."""
    with _lock:
        known = _by_class.get(cls)
        if known is not None and (name is None or known.name == name):
            return known
        if name is None:
            name = _derived_name(cls)
        if not _NAME.match(name):
            raise ValueError(f"bad record type name {name!r}: use stem.ClassName")
        rtype = RecordType(name, cls)
        _by_name[name] = rtype
        _by_class[cls] = rtype
        return rtype


def _derived_name(cls: type) -> str:
    module = cls.__module__
    if module == "bpftop.frame":
        stem = "frame"
    elif module.startswith("bpftop.collectors.") and module.count(".") == 2:
        stem = module.rsplit(".", 1)[1]
    else:
        raise TypeError(
            f"{module}.{cls.__qualname__} is not registered for recording (record.types.register)"
        )
    return f"{stem}.{cls.__qualname__}"


def for_class(cls: type) -> RecordType:
    """The record type of a class, registering it on first use."""
    rtype = _by_class.get(cls)
    return rtype if rtype is not None else register(cls)


def by_name(name: str) -> RecordType:
    """Resolve a name from a file.

    Raises:
        UnknownTypeError: no such class here (a newer collector, or garbage).
    """
    rtype = _by_name.get(name)
    if rtype is not None:
        return rtype
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise UnknownTypeError(f"bad type name {name!r}")
    stem, class_name = match.groups()
    module_name = _MODULES.get(stem, f"bpftop.collectors.{stem}")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise UnknownTypeError(f"unknown type {name} (no module {module_name})") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not is_record_class(cls):
        raise UnknownTypeError(f"unknown type {name}")
    return register(cls, name)
