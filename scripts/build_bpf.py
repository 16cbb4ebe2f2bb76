#!/usr/bin/env python3
"""Compile bpftop's BPF sources into the `.bpf.o` objects that ship in the package.

Every ``bpftop/c/*.bpf.c`` is compiled with clang for the BPF target (CO-RE, so one
object serves every kernel with BTF) and stripped of DWARF, keeping BTF. A manifest
(``bpftop/c/manifest.json``) records, for each object, the SHA-256 of its source and
of every header in ``bpftop/c``; ``tests/test_bpf_build.py`` fails when a source
changed without a rebuild.

Usage:
    python scripts/build_bpf.py            # rebuild objects and manifest
    python scripts/build_bpf.py --out DIR  # compile into DIR only (CI: prove sources build)
    python scripts/build_bpf.py --check    # exit 1 if the manifest is stale
    python scripts/build_bpf.py tcp biolat # rebuild only these objects
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

C_DIR = Path(__file__).resolve().parent.parent / "bpftop" / "c"
MANIFEST = C_DIR / "manifest.json"
ARCH_DEFINES = {"x86_64": "x86", "aarch64": "arm64"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_INCLUDE = re.compile(r'^#include\s+"([^"]+)"', re.MULTILINE)


def inputs_of(source: Path) -> list[Path]:
    """Return the files an object depends on: its source and the local headers it
    includes, followed transitively (so a new collector's header does not mark
    every other object stale), plus vmlinux.h."""
    seen: set[Path] = set()
    pending = [source]
    while pending:
        path = pending.pop()
        for name in _INCLUDE.findall(path.read_text()):
            header = C_DIR / name
            if header.is_file() and header not in seen:
                seen.add(header)
                pending.append(header)
    vmlinux = sorted((C_DIR / "vmlinux").glob("*/vmlinux.h"))
    return [source, *sorted(seen), *vmlinux]


def expected_manifest() -> dict[str, dict[str, str]]:
    """Hashes of the current sources, keyed by object name."""
    manifest: dict[str, dict[str, str]] = {}
    for source in sorted(C_DIR.glob("*.bpf.c")):
        obj = source.name.removesuffix(".c") + ".o"
        manifest[obj] = {str(p.relative_to(C_DIR)): _sha256(p) for p in inputs_of(source)}
    return manifest


def compile_one(source: Path, out_dir: Path, clang: str, strip: str) -> Path:
    """Compile one source; raise CalledProcessError with clang's output on failure."""
    arch = platform.machine()
    obj = out_dir / (source.name.removesuffix(".c") + ".o")
    cmd = [
        clang,
        "-g",
        "-O2",
        "-target",
        "bpf",
        "-mcpu=v3",
        f"-D__TARGET_ARCH_{ARCH_DEFINES.get(arch, 'x86')}",
        f"-I{C_DIR / 'vmlinux' / 'x86_64'}",
        f"-I{C_DIR}",
        "-Wall",
        "-Werror",
        "-c",
        str(source),
        "-o",
        str(obj),
    ]
    subprocess.run(cmd, check=True)
    # DWARF is large and unused at run time; BTF and line info stay.
    subprocess.run([strip, "-g", str(obj)], check=True)
    return obj


def main() -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="compile into this directory only")
    parser.add_argument("--check", action="store_true", help="fail if the manifest is stale")
    parser.add_argument("stems", nargs="*", help="build only these (e.g. `tcp`); default all")
    args = parser.parse_args()

    if args.check:
        current = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
        expected = expected_manifest()
        stale = sorted(n for n in current.keys() | expected.keys() if current.get(n) != expected.get(n))
        for name in stale:
            print(f"stale: {name} (run `make build-bpf`)", file=sys.stderr)
        return 1 if stale else 0

    clang = shutil.which("clang") or sys.exit("clang not found: apt-get install clang llvm libbpf-dev")
    strip = shutil.which("llvm-strip") or sys.exit("llvm-strip not found: apt-get install llvm")
    out_dir = args.out or C_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(C_DIR.glob("*.bpf.c"))
    if args.stems:
        sources = [C_DIR / f"{stem}.bpf.c" for stem in args.stems]
        missing = [str(s) for s in sources if not s.is_file()]
        if missing:
            sys.exit(f"no such source: {', '.join(missing)}")
    for source in sources:
        print(f"  BPF  {compile_one(source, out_dir, clang, strip).name}")
    if args.out is None:
        # Only the objects just built get new hashes; others keep theirs, so a
        # partial build cannot hide that another object is stale.
        manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
        expected = expected_manifest()
        built = {s.name.removesuffix(".c") + ".o" for s in sources}
        manifest = {
            n: expected[n] if n in built else manifest[n] for n in expected if n in built or n in manifest
        }
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
