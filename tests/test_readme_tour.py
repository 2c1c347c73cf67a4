"""The README's "A short tour", run as written: its commands are read from README.md (and
``make run`` from the Makefile), run against a real ``notifier serve`` on a free port, and
the outbox is checked. Nothing is pinned to a date, so the tour works on any day.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent
SERVE_TIMEOUT_S = 60


def tour_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the tour section, in order."""
    section = readme.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def make_recipe(makefile: str, target: str) -> list[str]:
    """The command lines of a Makefile target, with $(BIN) resolved to this virtualenv."""
    body = makefile.split(f"\n{target}:", 1)[1]
    lines = []
    for line in body.splitlines()[1:]:
        if not line.startswith("\t"):
            break
        lines.append(line.strip().replace("$(BIN)", str(BIN)))
    return lines


def test_the_tour_is_what_this_test_expects() -> None:
    blocks = tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 3
    assert blocks[0].strip().endswith("make run")
    assert "/v1/orders" in blocks[1] and "placed_at" not in blocks[1]  # placed now, any day
    assert "tick --now +" in blocks[2]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # The tour runs in a checkout; this directory stands in for one (rules and templates
    # are the repository's own, data goes to ./var as with `make run`).
    (tmp_path / "config.toml").write_text(
        f'[paths]\ndata_dir = "var"\nrules_dir = "{REPO / "rules"}"\n'
        f'templates_dir = "{REPO / "templates"}"\n', encoding="utf-8")
    (tmp_path / ".venv").symlink_to(BIN.parent)
    return tmp_path


def _env(assignments: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    return {**env, **assignments}


@pytest.fixture
def served(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``make run`` as the README starts it: its env assignments, the Makefile's recipe,
    the server on a free port (``--port 0``). Yields the base URL and the environment."""
    start = tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))[0].strip()
    words = shlex.split(start)
    env = _env(dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-")))
    *setup, serve = make_recipe((REPO / "Makefile").read_text(encoding="utf-8"), "run")
    for command in setup:
        subprocess.run(command, shell=True, cwd=workdir, env=env, check=True)
    proc = subprocess.Popen([*shlex.split(serve), "--host", "127.0.0.1", "--port", "0"],
                            cwd=workdir, env=env, stderr=subprocess.PIPE, text=True)
    try:
        yield _wait_for_url(proc), env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    """Read the server's log until uvicorn says where it listens."""
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + SERVE_TIMEOUT_S
    seen = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            break
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"Uvicorn running on (http://\S+)", line)
        if found:
            return found.group(1)
    raise AssertionError("notifier serve did not start:\n" + "".join(seen))


@pytest.mark.slow
def test_the_readme_tour_sends_the_apology(
    workdir: Path, served: tuple[str, dict[str, str]]
) -> None:
    url, env = served
    outputs = []
    for block in tour_blocks((REPO / "README.md").read_text(encoding="utf-8"))[1:]:
        script = block.replace("http://127.0.0.1:8000", url)
        done = subprocess.run(["bash", "-e", "-c", script], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    assert '"outcome":"applied"' in outputs[0].replace(" ", "")
    [eml] = sorted((workdir / "var" / "outbox" / "email").glob("*.eml"))
    text = eml.read_text(encoding="utf-8")
    assert "anna@example.pl" in text
    listed = outputs[1]
    assert eml.name in listed  # `ls var/outbox/email/` showed it
    assert "order-unshipped" in listed and "sent" in listed
