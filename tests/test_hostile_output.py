"""Attacks on what root bpftop writes: output files and the names printed in them.

An unprivileged user (``nobody`` here) prepares a world-writable sticky
directory such as ``/tmp``, or names a process, and root runs bpftop. Each
test plays the attacker and checks that bpftop fails safely, in bounded time
and memory. The ``bpf`` tests sample for real, as the attack needs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import scaled

from bpftop.record.errors import RecordingError
from bpftop.record.writer import RecordingWriter
from tests.fakes import HOST
from tests.peak_rss import Measured

ROOT = Path(__file__).resolve().parent.parent
BPFTOP = [sys.executable, "-m", "bpftop"]
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
RSS_LIMIT_KB = 300_000  # bpftop with every collector peaks near 100 MB

# kernel_independent: escaping names and refusing output paths is user space;
# the collectors that read the names run per kernel in their own tests.
pytestmark = [
    pytest.mark.kernel_independent,
    pytest.mark.skipif(os.geteuid() != 0, reason="the attacks target root's bpftop"),
]


def as_nobody(*argv: str) -> None:
    subprocess.run([*NOBODY, *argv], check=True, timeout=10)


def bpftop(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[bytes]:
    """Run root bpftop; fail if it outlives ``timeout_s`` or its peak RSS passes the limit."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["COLUMNS"] = "200"  # CI has no terminal: rich's 80 columns would cut the COMMAND column
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = Measured([*BPFTOP, *args], cwd=ROOT, stdout=out, stderr=err, env=env)
        timer = threading.Timer(scaled(timeout_s), child.kill)
        timer.start()
        try:
            code = child.wait()
        finally:
            timer.cancel()
        assert code != -signal.SIGKILL, f"bpftop {args}: still running after {timeout_s} s"
        assert child.peak_kb < RSS_LIMIT_KB, f"bpftop peaked at {child.peak_kb} kB"
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, code, out.read(), err.read())


def one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def sticky() -> Iterator[Path]:
    """A ``/tmp``-like directory: anyone may create files, only owners remove them."""
    path = Path(tempfile.mkdtemp(prefix="bpftop-sticky-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root-only file (pytest's tmp_path is 0700) the attacker wants overwritten."""
    path = tmp_path / "victim"
    path.write_text("precious\n")
    return path


# -- bpftop profile -o -------------------------------------------------------


@pytest.mark.bpf("stacks")
@pytest.mark.parametrize("force", [False, True])
def test_profile_output_never_follows_a_symlink(sticky: Path, victim: Path, force: bool) -> None:
    as_nobody("ln", "-s", str(victim), str(sticky / "out.folded"))
    proc = bpftop("profile", "--duration", "0.3", "-o", str(sticky / "out.folded"), *(["--force"] * force))
    assert victim.read_text() == "precious\n"
    assert proc.returncode == 1
    assert "is a symbolic link" in one_line(proc.stderr)


@pytest.mark.bpf("stacks")
def test_profile_output_through_a_dangling_symlink_creates_nothing(sticky: Path, tmp_path: Path) -> None:
    planted = tmp_path / "cron.d-entry"  # where the attacker wants a root-owned file
    as_nobody("ln", "-s", str(planted), str(sticky / "out.folded"))
    proc = bpftop("profile", "--duration", "0.3", "-o", str(sticky / "out.folded"))
    assert not planted.exists()
    assert proc.returncode == 1 and "is a symbolic link" in one_line(proc.stderr)


@pytest.mark.bpf("stacks")
def test_profile_output_is_new_and_private(sticky: Path) -> None:
    as_nobody("touch", str(sticky / "taken"))
    proc = bpftop("profile", "--duration", "0.3", "-o", str(sticky / "taken"))
    assert proc.returncode == 1 and "exists; add --force" in one_line(proc.stderr)
    assert (sticky / "taken").stat().st_size == 0

    proc = bpftop("profile", "--duration", "0.3", "-o", str(sticky / "mine"))
    assert proc.returncode == 0, proc.stderr
    assert (sticky / "mine").stat().st_mode & 0o777 == 0o600  # profiles name what ran


@pytest.mark.bpf("stacks")
def test_profile_force_never_writes_into_another_users_file(sticky: Path) -> None:
    as_nobody("sh", "-c", f"umask 0; echo attacker > {sticky / 'out'}; mkfifo {sticky / 'fifo'}")
    proc = bpftop("profile", "--duration", "0.3", "--force", "-o", str(sticky / "out"))
    assert proc.returncode == 1 and "owned by uid 65534" in one_line(proc.stderr)
    assert (sticky / "out").read_text() == "attacker\n"
    # A FIFO would block the open for good (until someone reads it).
    proc = bpftop("profile", "--duration", "0.3", "--force", "-o", str(sticky / "fifo"), timeout_s=20)
    assert proc.returncode == 1 and "not a regular file" in one_line(proc.stderr)


@pytest.mark.bpf("stacks")
def test_profile_to_a_missing_directory_fails_before_sampling(tmp_path: Path) -> None:
    proc = bpftop("profile", "--duration", "60", "-o", str(tmp_path / "missing" / "x"), timeout_s=20)
    assert proc.returncode == 1
    assert "No such file or directory" in one_line(proc.stderr)


# -- bpftop record --force ------------------------------------------------------


def test_record_force_never_writes_into_another_users_file(sticky: Path) -> None:
    as_nobody("sh", "-c", f"umask 0; echo attacker > {sticky / 'rec'}")
    with pytest.raises(RecordingError, match=r"owned by uid 65534"):
        RecordingWriter(str(sticky / "rec"), force=True, host=HOST, collectors=[], delay_s=1.0)
    assert (sticky / "rec").read_text() == "attacker\n"


def test_record_force_onto_a_symlink_says_so(sticky: Path, victim: Path) -> None:
    as_nobody("ln", "-s", str(victim), str(sticky / "rec"))
    with pytest.raises(RecordingError, match=r"is a symbolic link"):
        RecordingWriter(str(sticky / "rec"), force=True, host=HOST, collectors=[], delay_s=1.0)
    assert victim.read_text() == "precious\n"


# -- names a process chooses -------------------------------------------------------

# Sets its own comm (any bytes but NUL, 15 at most), says so, then makes
# syscalls and burns CPU so every collector sees it.
NAMED = """
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)
print(os.getpid(), flush=True)
while True:
    os.getppid()
"""


@pytest.fixture
def named_process() -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def start(comm: bytes) -> int:
        proc = subprocess.Popen(
            [*NOBODY, "/usr/bin/python3", "-c", NAMED, comm.hex()], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None
        return int(proc.stdout.readline())

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


CRON = b"x\n* * * * * r"  # a line cron would run, if the profile landed in /etc/cron.d
ESCAPES = b"\x1b]2;pwn\x07\x1b[2J\x9b"  # set the title, clear the screen, a C1 CSI


@pytest.mark.bpf("stacks")
def test_comm_with_a_newline_stays_inside_its_folded_line(named_process) -> None:  # type: ignore[no-untyped-def]
    pid = named_process(CRON)
    proc = bpftop("profile", "--duration", "1", "-p", str(pid))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines, proc.stderr
    for line in lines:
        stack, _, value = line.rpartition(" ")
        assert value.isdigit() and " " not in stack, line  # flamegraph.pl splits at the last blank
        assert not line.startswith("*")


@pytest.mark.bpf("stacks")
def test_comm_escape_sequences_never_reach_profile_stdout(named_process) -> None:  # type: ignore[no-untyped-def]
    pid = named_process(ESCAPES)
    proc = bpftop("profile", "--duration", "1", "-p", str(pid))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert not set(proc.stdout.decode()) & {"\x1b", "\x07", "\x9b"}


@pytest.mark.bpf("syscalls")
@pytest.mark.parametrize("comm", [ESCAPES, CRON, b"[/]x[bold]"])
def test_comm_is_printed_inert_in_batch_text(named_process, comm: bytes) -> None:  # type: ignore[no-untyped-def]
    pid = named_process(comm)
    proc = bpftop("--once", "--pane", "procs", "-p", str(pid))
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout.decode()
    assert not set(out) & {"\x1b", "\x07", "\x9b"}
    assert not any(line.startswith("* * *") for line in out.splitlines())
    if comm.startswith(b"["):
        assert "[/]x[bold]" in out  # rich markup is text here, not style (nor a crash)


# -- the same names, without BPF: every text writer, one mapping ------------------


def test_symbol_names_cannot_add_lines_frames_or_counts_to_folded_output() -> None:
    import io

    from bpftop.commands.profile import write_profile
    from bpftop.derive.stacks import StackRow

    rows = [
        StackRow(7, "c;m d", ("main", "evil\n* * * * * root touch /pwned", "leaf 999"), "uuu", 5, 5),
        StackRow(8, "\x1b[2J", ("a\tb\u2028c\x85d;e",), "u", 2, 2),
    ]
    out = io.StringIO()
    write_profile(rows, "folded", False, out)
    assert out.getvalue().splitlines() == [
        "c:m_d;main;evil_*_*_*_*_*_root_touch_/pwned;leaf_999 5",
        "?[2J;a_b_c_d:e 2",  # a lone count after the last blank: flamegraph.pl reads no differential
    ]


def test_speedscope_keeps_names_exact_and_json_escaped() -> None:
    import io
    import json

    from bpftop.commands.profile import write_profile
    from bpftop.derive.stacks import StackRow

    name = "evil\n* * * * *\x1b[2J"
    out = io.StringIO()
    write_profile([StackRow(7, "x", (name,), "u", 1, 1)], "speedscope", False, out)
    assert out.getvalue().count("\n") == 1 and "\x1b" not in out.getvalue()
    assert json.loads(out.getvalue())["shared"]["frames"][0]["name"] == name


def test_dashboard_cells_and_batch_lines_show_controls_as_question_marks() -> None:
    import io

    from bpftop.batch import SafeConsole
    from bpftop.panes.keyed_table import fit

    assert fit("a\x1b]2;t\x07\u202eb", 10) == "a?]2;t??b "
    out = io.StringIO()
    SafeConsole(file=out, width=80).print("x\x1b[2J\x9b [/] :smile: y")
    assert out.getvalue() == "x?[2J? [/] :smile: y\n"


def test_force_refuses_a_hard_link_and_keeps_the_requested_mode(tmp_path: Path, victim: Path) -> None:
    from bpftop.outfile import OutputFileError, create_output

    # protected_hardlinks stops nobody linking root's files; where it is off,
    # --force must still not truncate the file a link shares.
    os.link(victim, tmp_path / "link")
    with pytest.raises(OutputFileError, match="it has 2 hard links"):
        create_output(str(tmp_path / "link"), force=True)
    assert victim.read_text() == "precious\n"
    old = os.umask(0o077)
    try:
        fd = create_output(str(tmp_path / "shared"), mode=0o644)  # --mode wins over the umask
    finally:
        os.umask(old)
    os.close(fd)
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o644
