"""What the dashboard imports before its first frame, and the boot time it reads itself (issue 23)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from bpftop.engine import boot_time

# Modules the first frame does without: the sampling thread imports them when
# it first derives or reads /proc (each cost the first frame 10-30 ms).
LATER = (
    "psutil",
    "bpftop.derive.syscalls",
    "bpftop.derive.runqlat",
    "bpftop.derive.biolat",
    "bpftop.derive.pmc",
    "bpftop.derive.tcp",
    "bpftop.record.reader",
)


def test_the_first_frame_imports_nothing_the_sampling_thread_can() -> None:
    script = (
        "import sys\n"
        "import bpftop.commands.dashboard, bpftop.app, bpftop.panes.procs\n"
        f"print(','.join(m for m in {LATER!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ""


def test_boot_time_is_psutils(tmp_path: Path) -> None:
    assert boot_time() == psutil.boot_time()
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nintr 5\n")
    assert boot_time(str(stat)) == 0.0  # no btime line: unknown, the header leaves uptime out
    assert boot_time(str(tmp_path / "missing")) == 0.0
