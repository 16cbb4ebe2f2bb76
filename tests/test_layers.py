"""Import direction between layers: no module imports upward or sideways (issue 21).

Read from the source with ``ast``, so a lazy import inside a function counts
as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bpftop

ROOT = Path(bpftop.__file__).parent


def imports(path: Path, package: str = "") -> set[str]:
    """Every module ``path`` (in ``package``, by default its own) imports, at any depth of the code."""
    package = package or ".".join(("bpftop", *path.relative_to(ROOT).parent.parts))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # from bpftop import panes
    return found


def modules(package: str) -> list[Path]:
    """The Python files of ``bpftop/<package>`` (a module or a package)."""
    path = ROOT / package
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def offending(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Per file of ``package``, the imports that are or lie under one of ``forbidden``."""
    out = {}
    for path in modules(package):
        bad = sorted(m for m in imports(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


# (layer, what it must never import): panes and batch are two outputs of the
# same derived model and share only bpftop.display and bpftop.fmt.
RULES = [
    ("batch", ("bpftop.panes", "bpftop.app", "textual")),
    ("panes", ("bpftop.batch",)),
    ("display", ("bpftop.panes", "bpftop.batch", "bpftop.app", "textual")),
    ("fmt", ("bpftop",)),
    # cli.py parses and dispatches; the commands it runs never reach back to it,
    # and the recording format knows neither (issue 21, move 3).
    ("commands", ("bpftop.cli",)),
    ("record", ("bpftop.cli", "bpftop.commands")),
]


@pytest.mark.parametrize(("layer", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layer_imports_nothing_it_must_not(layer: str, forbidden: tuple[str, ...]) -> None:
    assert offending(layer, forbidden) == {}


def test_the_scan_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    src = tmp_path / "probe.py"
    src.write_text("def f():\n    from ..batch import procs\n    import bpftop.batch.tcp\n")
    assert imports(src, "bpftop.panes") >= {"bpftop.batch", "bpftop.batch.procs", "bpftop.batch.tcp"}
