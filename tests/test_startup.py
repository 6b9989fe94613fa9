"""What a one-off ``watcher check`` loads: only the parts its targets need.

Every ``check`` pays for its imports before the first request, and the main process
keeps them for its whole life. Playwright (about 7 MB), Jinja2 and apprise are for
browser targets and alerts; a check of plain pages without channels loads none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from httpserver import HTTPServer

# runs `watcher` in this process, then prints which optional parts it had loaded
PROBE = """
import atexit, json, sys
from watcher.cli.main import main
watched = ("playwright", "jinja2", "apprise")
atexit.register(lambda: print(json.dumps({m: m in sys.modules for m in watched})))
main(sys.argv[1:])
"""


def loaded(config: Path, data: Path, *args: str) -> dict[str, bool]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(config), "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def config(http_server: HTTPServer, tmp_path: Path) -> Path:
    http_server.route(
        "/n.html",
        body="<p>船舶工业通知</p>".encode(),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    path = tmp_path / "targets.yaml"
    path.write_text(f"targets:\n  - name: n\n    url: {http_server.url('/n.html')}\n", "utf-8")
    return path


def test_a_plain_check_without_channels_loads_no_browser_templates_or_apprise(
    config: Path, tmp_path: Path
) -> None:
    assert loaded(config, tmp_path / "data", "check", "--no-notify") == {
        "playwright": False,
        "jinja2": False,
        "apprise": False,
    }


def test_a_check_with_channels_loads_the_templates_and_apprise_but_no_browser(
    config: Path, tmp_path: Path
) -> None:
    notifiers = tmp_path / "notifiers"
    notifiers.mkdir()
    (notifiers / "apprise.yml").write_text("urls:\n  - json://127.0.0.1:9/hook\n", "utf-8")
    found = loaded(config, tmp_path / "data", "--notifiers", str(notifiers), "check", "--json")
    assert found == {"playwright": False, "jinja2": True, "apprise": True}
