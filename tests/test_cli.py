"""Command-line behaviour: clear errors, nothing loaded when nothing can run."""

import pytest

from bpftop import cli, engine


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


def test_unknown_user_is_rejected(capsys):
    with pytest.raises(SystemExit):
        cli.main(["-u", "no-such-user-xyz"])
    assert "no such user" in capsys.readouterr().err


def test_missing_cgroup_is_a_clear_error():
    with pytest.raises(SystemExit) as exc:
        cli.main(["--once", "--cgroup", "/nonexistent/cgroup"])
    assert "No such file" in str(exc.value)


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
    from bpftop import check

    monkeypatch.setattr(check, "effective_caps", lambda: 0)
    monkeypatch.setattr(check.os, "geteuid", lambda: 1000)
    assert check.run_check() == 1
    out = capsys.readouterr().out
    assert "uid 1000" in out
    assert "hint:" in out


def test_check_reports_missing_btf(monkeypatch, tmp_path):
    from bpftop import check

    monkeypatch.setattr(check, "BTF_PATH", tmp_path / "no-vmlinux")
    row = next(r for r in check.system_rows() if r.item == "BTF")
    assert row.ok is False
    assert "CONFIG_DEBUG_INFO_BTF" in row.detail


class _OptionsEngine:
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

    def open(self):
        self.at_open = dict(self.options)
        return ()

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

    monkeypatch.setattr(cli, "Engine", _OptionsEngine)
    monkeypatch.setattr(terminal, "terminal_problem", lambda: "")
    _OptionsEngine.made.clear()
    assert cli.main(argv) == 1
    (made,) = _OptionsEngine.made
    assert made.at_open == {"visible_pane": visible}


def test_record_of_every_pane_takes_no_off_cpu_stacks_unless_asked(monkeypatch, tmp_path):
    from bpftop.record import commands

    monkeypatch.setattr(engine, "Engine", _OptionsEngine)
    for argv, visible in (([], "*"), (["--pane", "stacks"], "stacks")):
        _OptionsEngine.made.clear()
        assert commands.record_main([str(tmp_path / f"r{len(argv)}.bpftop"), *argv]) == 1
        (made,) = _OptionsEngine.made
        assert made.at_open == {"visible_pane": visible}
