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
