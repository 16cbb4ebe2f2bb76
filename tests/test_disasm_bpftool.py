"""bpftop's disassembly matches ``bpftool prog dump xlated`` line for line (root).

Programs: bpftop's own syscalls, runqlat and biolat objects (map loads, map
value loads, helper calls, jumps, atomics, 64-bit immediates) and the bpf
pane's test socket filter, in both the plain and the ``linum`` form.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import bpfstats_objects
import pytest

pytestmark = pytest.mark.bpf("syscalls", "runqlat", "biolat")
# bpftool before 7.4 prints the kernel's per-CPU address move (6.7+, from an
# inlined per-CPU map lookup) as a plain move; the kernel's own text is ours.
PERCPU_MOV = re.compile(r"&\(void __percpu \*\)\((r\d+)\)")


def _bpftool_version() -> tuple[int, int]:
    out = subprocess.run(["bpftool", "version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"v(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def normalise(lines: list[str], old_bpftool: bool) -> list[str]:
    out = [" ".join(line.split()) for line in lines if line.strip()]
    return [PERCPU_MOV.sub(r"\1", line) for line in out] if old_bpftool else out


@pytest.fixture(scope="module")
def program_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    if not shutil.which("bpftool"):
        pytest.fail("bpftool is needed to compare the disassembly (scripts/setup-dev.sh installs it)")
    from bpftop.bpf.object import BpfObject
    from bpftop.bpf.proginfo import InfoReader
    from bpftop.collectors.biolat import OPTIONAL_HOOKS

    # As the collector does: a hook this kernel lacks (block_io_start < 6.5) is left out.
    objs = [BpfObject.open(name, optional=OPTIONAL_HOOKS) for name in ("syscalls", "sched", "biolat")]
    test_obj = bpfstats_objects.LoadedObject(bpfstats_objects.build(tmp_path_factory.mktemp("disasm")))
    try:
        ids = [i for obj in objs for i in obj.program_ids()]
        yield [*ids, InfoReader().prog(test_obj.prog_fd).id]
    finally:
        test_obj.close()
        for obj in objs:
            obj.close()


def test_disassembly_matches_bpftool(program_ids: list[int]) -> None:
    from bpftop.collectors.bpfstats_detail import program_detail

    old = _bpftool_version() < (7, 4)
    seen = ""
    assert len(program_ids) >= 10
    for prog_id in program_ids:
        detail = program_detail(prog_id)
        for linum, ours in ((False, detail.lines), (True, detail.lines_linum)):
            cmd = ["bpftool", "prog", "dump", "xlated", "id", str(prog_id), *(["linum"] if linum else [])]
            theirs = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
            assert normalise(list(ours), old) == normalise(theirs, old), f"program {prog_id} linum={linum}"
        seen += "\n".join(detail.lines)
    # What the programs exercised: map and map-value loads, helper calls,
    # both jump forms, a 64-bit immediate, source lines and function headers.
    needles = (
        "= map[id:",
        "][0]+",
        "call bpf_",
        "goto pc",
        "if r",
        "lock *(u64 *)",
        "; ",
        "(unsigned long long * ctx):",
    )
    for needle in needles:
        assert needle in seen, needle
    assert re.search(r"\(18\) r\d+ = 0x[0-9a-f]+$", seen, re.MULTILINE)
