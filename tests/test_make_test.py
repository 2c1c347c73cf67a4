"""`make test` does the suite's set-up itself and fails when a test fails.

scripts/test-services.sh runs here against stand-ins for apt-get, pg_isready and
pg_ctlcluster: the shared machine's own PostgreSQL must not be stopped nor its Chromium or
Dovecot removed to watch the script bring them back. The stand-ins only record what they were asked
and answer as the real commands do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "test-services.sh"
BIN = Path(sys.executable).parent


def stub(path: Path, body: str) -> Path:
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(0o755)
    return path


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    present = {"CHROMIUM": sys.executable, "DOVECOT": sys.executable}  # unless a test says
    return subprocess.run(["bash", str(SCRIPT)],
                          env={**base, "PG_WAIT_S": "3", **present, **env},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


@pytest.fixture
def pg_ready(tmp_path: Path, log: Path) -> dict[str, str]:
    """PostgreSQL installed and answering, as the real one is here."""
    return {"PG_ISREADY": str(stub(tmp_path / "pg_isready", f'echo "isready $*" >> {log}\n'))}


def test_chromium_missing_is_installed_with_apt(tmp_path: Path, log: Path,
                                                pg_ready: dict[str, str]) -> None:
    chromium = tmp_path / "chromium"
    apt = stub(tmp_path / "apt-get", f'echo "apt-get $*" >> {log}\n'
               f'if [ "$1" = install ]; then printf "#!/bin/sh\\n" > {chromium}; '
               f'chmod +x {chromium}; fi\n')
    done = run_script(tmp_path, CHROMIUM=str(chromium), APT_GET=str(apt), **pg_ready)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert "apt-get update -qq" in calls and "apt-get install -y -qq chromium" in calls
    assert os.access(chromium, os.X_OK)
    assert "installing Debian's chromium" in done.stderr
    assert [c for c in calls if "install" in c.split()[:2]] == ["apt-get install -y -qq chromium"]
    # Once it is there, nothing is installed again.
    log.unlink()
    run_script(tmp_path, CHROMIUM=str(chromium), APT_GET=str(apt), **pg_ready)
    assert not [c for c in log.read_text().splitlines() if c.startswith("apt-get")]


def test_dovecot_missing_is_installed_too(tmp_path: Path, log: Path,
                                         pg_ready: dict[str, str]) -> None:
    apt = stub(tmp_path / "apt-get", f'echo "apt-get $*" >> {log}\n')
    done = run_script(tmp_path, DOVECOT=str(tmp_path / "dovecot"), APT_GET=str(apt), **pg_ready)
    assert done.returncode == 0
    assert "apt-get install -y -qq dovecot-imapd" in log.read_text().splitlines()


def test_chromium_that_cannot_be_installed_names_the_command(
    tmp_path: Path, pg_ready: dict[str, str]
) -> None:
    apt = stub(tmp_path / "apt-get", "exit 100\n")  # e.g. no network, or not allowed
    done = run_script(tmp_path, CHROMIUM=str(tmp_path / "none"), APT_GET=str(apt), **pg_ready)
    assert done.returncode == 0
    assert "run sudo apt-get install chromium" in done.stderr


def test_postgresql_installed_but_stopped_is_started(tmp_path: Path, log: Path) -> None:
    state = tmp_path / "running"
    isready = stub(tmp_path / "pg_isready", f'echo "isready $*" >> {log}\n[ -e {state} ]\n')
    ctl = stub(tmp_path / "pg_ctlcluster", f'echo "ctl $*" >> {log}\ntouch {state}\n')
    (tmp_path / "conf" / "13").mkdir(parents=True)
    (tmp_path / "conf" / "15").mkdir()
    done = run_script(tmp_path, PG_ISREADY=str(isready), PG_CTLCLUSTER=str(ctl),
                      PG_CONF_DIR=str(tmp_path / "conf"))
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert "ctl --skip-systemctl-redirect 15 main start" in calls
    assert calls[-1] == "isready -h 127.0.0.1 -p 5432 -q"  # waited until it answered
    assert "starting PostgreSQL 15/main" in done.stderr


def test_postgresql_not_installed_is_said(tmp_path: Path) -> None:
    done = run_script(tmp_path, PG_ISREADY=str(tmp_path / "no-such-command"))
    assert done.returncode == 0
    assert "PostgreSQL is not installed (sudo apt-get install postgresql)" in done.stderr


def test_ci_run_is_one_line_calling_make_test() -> None:
    lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) == 1 and lines[0].split()[-1] == "test" and "make" in lines[0]


@pytest.mark.slow
def test_make_test_fails_when_a_test_fails_and_shows_pytest_closing_line(
    tmp_path: Path
) -> None:
    failing = tmp_path / "test_fails.py"
    failing.write_text("def test_fails():\n    assert 1 == 2\n", encoding="utf-8")
    # Not under our own make's flags (when the suite itself runs from `make test`).
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("NOTIFIER_", "MAKE")) and k != "MFLAGS"}
    done = subprocess.run(
        ["make", "test", f"PYTEST_ARGS={failing} -p no:cacheprovider --rootdir {tmp_path}"],
        cwd=REPO, env=base, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    closing = [line for line in done.stdout.splitlines() if line.strip()][-1]
    assert "1 failed" in closing, done.stdout[-2000:]
