#!/usr/bin/env python3
"""Compute the oldest Linux each committed BPF object needs, per attach family.

Every ``bpftop/c/*.bpf.o`` is read in pure Python (``bpf_object.py``), each
program's needs are found (``bpf_scan.py``) and dated (``kernel_features.py``,
``kernel_helpers.py``). A family's minimum is the latest release among the
needs of the programs that family loads, plus the object's maps (libbpf
creates them all). Programs of optional hooks (left out when the kernel lacks
the tracepoint) do not raise the family's minimum; their own is listed.

The result is committed: ``bpftop/c/kernels.json``, read at run time by
``bpftop/kernels.py`` (``bpftop check`` says "needs Linux X.Y for Z" when a
load fails on an older kernel), and the table in docs/architecture.md
("Kernels"). Run this after every ``make build-bpf``; ``--check`` (a test)
fails while either is stale.

Usage:
    python scripts/kernel_reqs.py             # rewrite kernels.json and the docs table
    python scripts/kernel_reqs.py --check     # exit 1 if either is stale
    python scripts/kernel_reqs.py --markdown  # print the docs table
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bpf_object import BpfObject, ObjectError
from bpf_scan import Features, Scanner

from bpftop.bpf.object import METHODS, family_of
from bpftop.kernels import KERNELS_JSON
from bpftop.registry import STEMS

ROOT = Path(__file__).resolve().parent.parent
C_DIR = ROOT / "bpftop" / "c"
VMLINUX_H = C_DIR / "vmlinux" / "x86_64" / "vmlinux.h"
DOC = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- kernel_reqs.py: begin; generated from bpftop/c/kernels.json, run `make kernel-reqs` -->"
END = "<!-- kernel_reqs.py: end -->"


def optional_hooks() -> dict[str, tuple[str, ...]]:
    """Hooks each object's loader leaves out when the kernel lacks them, by object stem."""
    from bpftop.collectors.biolat import OPTIONAL_HOOKS
    from bpftop.collectors.tcp import LENGTH_HOOKS

    return {"biolat": OPTIONAL_HOOKS, "tcp": LENGTH_HOOKS}


def version_key(version: str) -> tuple[int, ...]:
    """``"5.12"`` -> ``(5, 12)``, so versions sort as numbers."""
    return tuple(int(part) for part in version.split("."))


def summarize(features: Features) -> dict[str, Any]:
    """The latest release among ``features`` and the features that need it."""
    latest = max(features.values(), key=version_key)
    return {"min": latest, "why": sorted(n for n, v in features.items() if v == latest)}


def _family_order(family: str) -> tuple[int, str]:
    return (METHODS.index(family), "") if family in METHODS else (len(METHODS), family)


def analyze(path: Path, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per family: minimum, why, programs and optional programs; and every feature found."""
    obj = BpfObject(path)
    scanner = Scanner(obj, VMLINUX_H)
    shared = scanner.object_features()
    found: Features = dict(shared)
    families: dict[str, dict[str, Any]] = {}
    for prog in obj.programs:
        features = scanner.program_features(prog)
        found.update(features)
        # The loader's own rule (BpfObject._select_family): tp_btf/raw_tp/tracepoint
        # are alternatives; any other program type is its own family.
        family = family_of(prog.section.name) or prog.section.name
        entry = families.setdefault(family, {"features": dict(shared), "programs": [], "optional": {}})
        hook = prog.section.name.split("/")[-1]
        if hook in optional:
            entry["optional"][prog.name] = {"hook": hook, **summarize(features | shared)}
        else:
            entry["features"].update(features)
            entry["programs"].append(prog.name)
    out = {}
    for family in sorted(families, key=_family_order):
        entry = families[family]
        out[family] = {**summarize(entry["features"]), "programs": entry["programs"]}
        if entry["optional"]:
            out[family]["optional"] = entry["optional"]
    ordered = sorted(found.items(), key=lambda item: (version_key(item[1]), item[0]))
    return {"families": out, "features": dict(ordered)}


def generate() -> dict[str, Any]:
    """The whole table, for every committed object."""
    hooks = optional_hooks()
    objects = {p.name.removesuffix(".bpf.o"): p for p in sorted(C_DIR.glob("*.bpf.o"))}
    covered = {obj for stem in STEMS.values() for obj in stem.objects}
    if set(objects) != covered:
        listed = f"the stems of bpftop/registry.py load {sorted(covered)}"
        raise ObjectError(f"{listed}, the objects are {sorted(objects)}")
    return {
        "generated_by": "scripts/kernel_reqs.py from the committed objects; do not edit",
        "objects": {stem: analyze(path, hooks.get(stem, ())) for stem, path in objects.items()},
    }


def render_json(data: dict[str, Any]) -> str:
    """The committed text of kernels.json."""
    return json.dumps(data, indent=1) + "\n"


def markdown(data: dict[str, Any]) -> str:
    """The docs table: collector x family -> minimum Linux and why."""
    lines = [
        "| collector | object | family | needs Linux | for | optional hooks (own minimum) |",
        "|---|---|---|---|---|---|",
    ]
    for collector, entry in STEMS.items():
        for stem in entry.objects:
            for family, req in data["objects"][stem]["families"].items():
                why = ", ".join(f"`{w}`" for w in req["why"])
                opt = ", ".join(f"`{o['hook']}` {o['min']}" for o in req.get("optional", {}).values())
                lines.append(f"| {collector} | `{stem}` | `{family}` | {req['min']} | {why} | {opt} |")
    return "\n".join(lines) + "\n"


def with_table(doc: str, table: str) -> str:
    """``doc`` with the text between the markers replaced by ``table``."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        raise ObjectError(f"{DOC.name}: markers {BEGIN!r} ... {END!r} not found")
    return doc[: start + len(BEGIN)] + "\n" + table + doc[end:]


def main() -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if kernels.json or the docs are stale")
    parser.add_argument("--markdown", action="store_true", help="print the docs table")
    args = parser.parse_args()
    try:
        data = generate()
        doc = DOC.read_text()
        new_doc = with_table(doc, markdown(data))
    except ObjectError as exc:
        print(f"kernel_reqs: {exc}", file=sys.stderr)
        return 2
    if args.markdown:
        print(markdown(data), end="")
        return 0
    text = render_json(data)
    if args.check:
        current = KERNELS_JSON.read_text() if KERNELS_JSON.exists() else ""
        stale = [p for p, ok in ((KERNELS_JSON, current == text), (DOC, doc == new_doc)) if not ok]
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run `make kernel-reqs`)", file=sys.stderr)
        return 1 if stale else 0
    KERNELS_JSON.write_text(text)
    DOC.write_text(new_doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
