"""Command-line behaviour: clear errors, nothing loaded when nothing can run."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import scaled

from bpftop import cli, engine
from bpftop.commands import dashboard
from bpftop.source import Source
from tests.test_record_compat import FIXTURE


def test_bad_comm_regex_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--once", "--comm", "(["])
    assert "bad regular expression" in str(exc.value)


def test_unknown_pane_is_rejected(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--pane", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_bad_delay_is_rejected(capsys):
    with pytest.raises(SystemExit):
        cli.main(["-d", "0"])
    assert "refresh interval" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["record", "{out}"], ["profile"]])
def test_a_pid_that_does_not_exist_is_one_line_and_exit_2(command: list[str], tmp_path) -> None:
    # Issue 17: -p 999999 was accepted and watched nothing, silently.
    import os
    import subprocess
    import sys

    free = next(p for p in range(4_194_303, 1, -1) if not os.path.exists(f"/proc/{p}"))
    argv = [a.replace("{out}", str(tmp_path / "rec")) for a in command] + ["-p", str(free)]
    run = subprocess.run([sys.executable, "-m", "bpftop", *argv], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert f"no process {free}" in run.stderr
    assert not (tmp_path / "rec").exists()


def test_the_keys_step_through_the_range_d_takes() -> None:
    # One range (issue 17): -d took 0.05-3600 s while +/- stopped at 0.1 and 10.
    from bpftop.app import DELAYS_S, step_delay
    from bpftop.argtypes import DELAY_MAX_S, DELAY_MIN_S

    assert (DELAYS_S[0], DELAYS_S[-1]) == (DELAY_MIN_S, DELAY_MAX_S) and list(DELAYS_S) == sorted(DELAYS_S)
    assert step_delay(10.0, +1) == 30.0 and step_delay(DELAY_MAX_S, +1) == DELAY_MAX_S
    assert step_delay(0.1, -1) == DELAY_MIN_S and step_delay(45.0, -1) == 30.0  # from any -d value


def test_unknown_user_is_rejected(capsys):
    with pytest.raises(SystemExit):
        cli.main(["-u", "no-such-user-xyz"])
    assert "no such user" in capsys.readouterr().err


def test_missing_cgroup_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--once", "--cgroup", "/nonexistent/cgroup"])
    assert exc.value.code == 2
    assert "No such file" in capsys.readouterr().err


def test_not_root_exits_1_with_hint(monkeypatch, capsys):
    monkeypatch.setattr(
        engine, "privilege_problem", lambda: "not root: loading BPF programs needs privileges"
    )
    assert cli.main(["--once"]) == 1
    err = capsys.readouterr().err
    assert "not root" in err
    assert "CAP_BPF" in err  # the hint
    assert "bpftop check" in err


def test_check_without_privileges_exits_1(monkeypatch, capsys):
    from bpftop.commands import check

    monkeypatch.setattr(check, "effective_caps", lambda: 0)
    monkeypatch.setattr(check.os, "geteuid", lambda: 1000)
    assert check.run_check() == 1
    out = capsys.readouterr().out
    assert "uid 1000" in out
    assert "hint:" in out


def test_check_rows_never_end_in_an_empty_hooks_list(monkeypatch) -> None:
    # Issue 17: "collector bpfstats ... hooks:" with nothing after it (it has none).
    from bpftop.commands import check

    for row in check.collector_rows(can_load=False):
        assert not row.detail.startswith(" "), row
        assert not row.detail.rstrip().endswith("hooks:"), row
    bpf = next(r for r in check.collector_rows(can_load=False) if r.item == "collector bpfstats")
    assert bpf.detail == "not loaded: no privileges"


@pytest.mark.bpf("bpfstats")
def test_check_of_loaded_collectors_lists_hooks_only_where_there_are_some() -> None:
    from bpftop.commands import check

    rows = {r.item: r for r in check.collector_rows(can_load=True)}
    assert rows["collector bpfstats"].ok and "hooks" not in rows["collector bpfstats"].detail
    assert "hooks: raw_syscalls:sys_enter" in rows["collector syscalls"].detail


def test_check_reports_missing_btf(monkeypatch, tmp_path):
    from bpftop.commands import check

    monkeypatch.setattr(check, "BTF_PATH", tmp_path / "no-vmlinux")
    row = next(r for r in check.system_rows() if r.item == "BTF")
    assert row.ok is False
    assert "CONFIG_DEBUG_INFO_BTF" in row.detail


# Bad values: one line, exit 2, before anything loads (they used to reach cffi,
# run with no output, or sample for no time at all).
BAD_VALUES = [
    (["--once", "-p", "-1"], "process ids are 1 to 4194304"),
    (["--once", "-p", "0"], "process ids are 1 to 4194304"),
    (["--once", "-p", "4294967296"], "process ids are 1 to 4194304"),
    (["--once", "-u", "99999999999"], "user ids are 0 to 4294967294"),
    (["-b", "-n", "-5"], "at least 1"),
    (["--once", "--cgroup", "/etc/passwd"], "not a cgroup v2 directory"),
    (["--once", "--cgroup", "/etc"], "not a cgroup v2 directory"),
    (["replay", str(FIXTURE), "-b", "-n", "-3"], "at least 1"),
    (["profile", "--min-block-us", "nan"], "not a finite number"),
    (["profile", "--min-block-us", "1e300"], "expected 0 to"),
    (["profile", "--duration", "nan"], "not a finite number"),
    (["profile", "-p", "-1"], "process ids are 1 to"),
    (["profile", "--mode", "4755"], "expected octal permissions"),
    (["record", "{out}", "-p", "-1"], "process ids are 1 to"),
    (["record", "{out}", "--max-size", "1" + "0" * 400 + "T"], "expected a size"),
    (["--once", "-d", "abc"], "'abc' is not a number"),  # not "invalid _delay value" (issue 17)
    (["--once", "-d", "nan"], "not a finite number"),
    (["--once", "-d", "0.01"], "the refresh interval is 0.05 to 3600 seconds"),
]


@pytest.mark.parametrize(("argv", "says"), BAD_VALUES, ids=[" ".join(a)[-40:] for a, _ in BAD_VALUES])
def test_bad_values_are_one_line_and_exit_2(argv, says, tmp_path):
    out = tmp_path / "out"
    argv = [a.replace("{out}", str(out)) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "bpftop", *argv], capture_output=True, text=True, timeout=scaled(60)
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert not out.exists()


def test_only_cgroup_v2_directories_are_accepted():
    import argparse

    from bpftop import argtypes

    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    v2 = next((m[1] for m in mounts if m[2] == "cgroup2"), None)
    if v2 is None:
        pytest.skip("no cgroup v2 mount here")
    assert argtypes.cgroup(v2) == v2
    for v1 in (m[1] for m in mounts if m[2] == "cgroup"):  # a hybrid host: ids that match no task
        with pytest.raises(argparse.ArgumentTypeError, match="not a cgroup v2 directory"):
            argtypes.cgroup(v1)


# With CAP_BPF and CAP_PERFMON alone the other panes load, but listing every
# program and map (BPF_PROG_GET_NEXT_ID, BPF_*_GET_FD_BY_ID) needs CAP_SYS_ADMIN:
# the hint must not tell the user to grant what they already granted.
@pytest.mark.bpf("bpfstats")
@pytest.mark.parametrize(
    "drop",
    [
        ["--bounding-set=-all,+bpf,+perfmon", "--inh-caps=-all"],  # root, stripped to the two
        [
            *("--reuid=nobody", "--regid=nogroup", "--clear-groups"),
            *("--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=-all,+bpf,+perfmon"),
        ],
    ],
    ids=["root", "nobody"],
)
def test_bpf_pane_with_cap_bpf_and_perfmon_asks_for_cap_sys_admin(drop):
    proc = subprocess.run(
        ["setpriv", *drop, sys.executable, "-m", "bpftop", "--once", "--pane", "bpf"],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert proc.returncode == 1
    assert "EPERM" in proc.stderr
    hint = next(line for line in proc.stderr.splitlines() if "hint:" in line)
    assert "CAP_SYS_ADMIN" in hint and "grant CAP_BPF and CAP_PERFMON" not in hint, proc.stderr


class _OptionsEngine(Source):
    """Records the options set before ``open``; nothing can run, so main stops there."""

    made: list["_OptionsEngine"] = []
    status = ()
    any_running = False

    def __init__(self, names, filters, delay_s=1.0):
        self.names = names
        self.host = engine.host_info()
        self.delay_s = delay_s
        self.options = {}
        self.at_open = None
        _OptionsEngine.made.append(self)

    def set_option(self, name, value):
        self.options[name] = value

    def open(self, only=None):
        self.at_open = self.at_open or dict(self.options)
        return ()

    def tick(self):
        raise AssertionError("nothing runs")

    def close(self):
        pass


@pytest.mark.parametrize(
    ("argv", "visible"),
    [
        ([], "procs"),  # the dashboard opens on procs: no off-CPU stacks, no pmc sums without a PMU
        (["--pane", "runqlat"], "runqlat"),
        (["-b"], "*"),  # every pane, but off-CPU stacks take asking for
        (["-b", "--pane", "stacks"], "stacks"),
        (["--once", "--pane", "procs"], "procs"),
    ],
)
def test_what_is_on_screen_is_known_before_anything_loads(monkeypatch, argv, visible):
    """Collectors that cost more while shown start as the screen they open on, not all on."""
    from bpftop import terminal

    monkeypatch.setattr(dashboard, "Engine", _OptionsEngine)
    monkeypatch.setattr(terminal, "terminal_problem", lambda: "")
    _OptionsEngine.made.clear()
    assert cli.main(argv) == 1
    (made,) = _OptionsEngine.made
    assert made.at_open.pop("visible_pane") == visible
    # Whether syscall latency is on screen (timing costs): the dashboard's pane,
    # or in batch output a pane showing it, never output of every pane.
    assert made.at_open == {"syscall_latency": visible == "syscalls"}


def test_record_of_every_pane_takes_no_off_cpu_stacks_unless_asked(monkeypatch, tmp_path):
    from bpftop.commands import record as commands

    monkeypatch.setattr(engine, "Engine", _OptionsEngine)
    for argv, visible in (([], "*"), (["--pane", "stacks"], "stacks")):
        _OptionsEngine.made.clear()
        assert commands.record_main([str(tmp_path / f"r{len(argv)}.bpftop"), *argv]) == 1
        (made,) = _OptionsEngine.made
        assert made.at_open == {"visible_pane": visible}
