"""A missing system package skips the tests that need it, naming the package and its install command, and fails
them under CI=true; `make system-packages` installs what is missing with apt-get as root, and only says what to run
otherwise."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support import system


def fake_requirement(marker: Path) -> system.Requirement:
    return system.Requirement("widget", "the widget the tests start", lambda: ("widget-tools",), marker.exists)


@pytest.fixture()
def widget(tmp_path, monkeypatch) -> Path:
    """A requirement met once `marker` exists, as the only one listed."""
    marker = tmp_path / "installed"
    requirement = fake_requirement(marker)
    monkeypatch.setattr(system, "REQUIREMENTS", (requirement,))
    monkeypatch.setattr(system, "BY_NAME", {"widget": requirement})
    monkeypatch.delenv("CI", raising=False)
    return marker


@pytest.fixture()
def apt_get(tmp_path, monkeypatch, widget) -> Path:
    """An apt-get on PATH that logs its arguments and "installs" by creating the widget's marker."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "apt-get.log"
    script = folder / "apt-get"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$1" in install) touch {widget} ;; esac\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def test_a_missing_package_skips_naming_the_package_and_the_command(widget):
    with pytest.raises(pytest.skip.Exception) as skipped:
        system.require("widget")
    assert str(skipped.value) == (
        "needs the Debian package widget-tools (the widget the tests start); install it with "
        "`sudo apt-get install -y widget-tools`, or run `make setup` as root"
    )


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_under_ci_a_missing_package_fails_instead(widget, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"widget-tools.*CI=true: a missing system package fails"):
        system.require("widget")


def test_a_present_package_lets_the_test_run(widget):
    widget.touch()
    assert system.require("widget") is None


def test_setup_as_root_installs_what_is_missing(apt_get, widget, monkeypatch, capsys):
    monkeypatch.setattr(system.os, "geteuid", lambda: 0)
    assert system.install() == 0
    assert apt_get.read_text().splitlines() == [
        "update -qq", "install -y --no-install-recommends widget-tools -qq"
    ]
    assert widget.exists()
    assert capsys.readouterr().out.splitlines()[-1] == "system packages: all present"


def test_setup_installs_nothing_when_everything_is_present(apt_get, widget, monkeypatch, capsys):
    widget.touch()
    monkeypatch.setattr(system.os, "geteuid", lambda: 0)
    assert system.install() == 0
    assert not apt_get.exists()
    assert capsys.readouterr().out == "system packages: all present (widget)\n"


@pytest.mark.parametrize(("ci", "status"), [(None, 0), ("true", 1)])
def test_setup_without_root_prints_the_command_and_installs_nothing(apt_get, widget, monkeypatch, capsys, ci,
                                                                     status):
    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    if ci:
        monkeypatch.setenv("CI", ci)
    assert system.install() == status
    assert not apt_get.exists() and not widget.exists()
    assert "sudo apt-get install -y --no-install-recommends widget-tools" in capsys.readouterr().out


def test_pgaudit_package_follows_the_postgresql_major_installed(tmp_path, monkeypatch):
    bin_dir = tmp_path / "17" / "bin"
    bin_dir.mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "psql"):
        (bin_dir / program).touch()
    monkeypatch.setenv("POSTGRES_BIN", str(bin_dir))
    pgaudit = system.BY_NAME["pgaudit"]
    assert pgaudit.packages() == ("postgresql-17-pgaudit",)
    assert system.BY_NAME["postgresql"].present() and not pgaudit.present()
    (tmp_path / "17" / "lib").mkdir()
    (tmp_path / "17" / "lib" / "pgaudit.so").touch()
    assert pgaudit.present()


def test_without_a_server_pgaudit_is_the_platforms_major(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTGRES_BIN", str(tmp_path / "nowhere"))
    assert system.BY_NAME["pgaudit"].packages() == (f"postgresql-{system.POSTGRES_MAJOR}-pgaudit",)
    assert not system.BY_NAME["postgresql"].present()
