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


# runs the `watcher` entry point in this process, then prints the modules it had loaded
# among those named in WATCHED (comma-separated) and the state of its garbage collector
ENTRY_PROBE = """
import atexit, gc, json, os, sys
from watcher.__main__ import main
watched = os.environ["WATCHED"].split(",")
atexit.register(lambda: print(json.dumps({
    "loaded": sorted(m for m in watched if m in sys.modules),
    "threshold": gc.get_threshold()[0],
})))
sys.argv = ["watcher", *sys.argv[1:]]
main()
"""


def entry(config: Path, data: Path, *args: str, watched: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_PROBE, "--config", str(config), "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).parent.parent),
            "WATCHED": watched,
        },
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_version_loads_neither_the_store_the_config_models_nor_http(
    config: Path, tmp_path: Path
) -> None:
    found = entry(config, tmp_path / "data", "--version", watched="sqlalchemy,pydantic,httpx,rich")
    assert found["loaded"] == []


def test_an_unchanged_check_without_channels_loads_no_alerts_parsers_or_ca_bundle(
    config: Path, tmp_path: Path
) -> None:
    """The second check finds the page unchanged: nothing is parsed, nothing alerted,
    and the page is plain HTTP. Without --no-notify: no channels file is the same.
    The index is read and written with sqlite3 alone (watcher.check.quick)."""
    data = tmp_path / "data"
    watched = (
        "apprise,jinja2,lxml,ctypes,watcher.analysis.metadata,watcher.alerts.compose,sqlalchemy"
    )
    first = entry(config, data, "check", "--json", watched=watched)
    assert "lxml" in first["loaded"]  # the new page was parsed: the probe sees imports
    found = entry(config, data, "check", "--json", watched=watched)
    assert found["loaded"] == []


def test_the_entry_point_collects_as_usual_once_a_checks_parts_are_loaded(
    config: Path, tmp_path: Path
) -> None:
    """Start-up collects young objects rarely; once the runtime is built the usual
    threshold is back (a long-running command must not keep start-up's)."""
    found = entry(config, tmp_path / "data", "check", "--json", watched="")
    assert found["threshold"] == 700
    validated = entry(config, tmp_path / "data", "validate", watched="")
    assert validated["threshold"] > 700  # nothing long-running: start-up's threshold kept


async def test_plain_http_never_loads_the_ca_bundle(http_server: HTTPServer) -> None:
    """Loading the CA bundle costs about 20 ms of CPU; http:// never needs it."""
    from watcher.fetch.client import Fetcher, FetchOptions, FetchSettings

    http_server.route("/p", body=b"<p>x</p>")
    async with Fetcher(FetchSettings(host_delay=0)) as fetcher:
        result = await fetcher.fetch(http_server.url("/p"), FetchOptions())
        trust = fetcher._client._transport._backend._trust
        assert result.status_code == 200
        assert trust._loaded is None
