"""The config snapshot: an unchanged check of an unchanged targets.yaml validates
nothing, and any change to the file, or to the snapshot, is the usual validated load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from httpserver import HTTPServer

from watcher.config import load_config
from watcher.config.snapshot import SNAPSHOT_NAME, load, quick_config, save

ROOT = Path(__file__).parent.parent
HTML = {"Content-Type": "text/html; charset=utf-8"}

# runs `watcher` in this process; its last line says whether pydantic or YAML was loaded
PROBE = """
import atexit, json, sys
from watcher.__main__ import main
validated = lambda: "pydantic" in sys.modules or "yaml" in sys.modules
atexit.register(lambda: print(json.dumps({"validated": validated()})))
sys.argv = ["watcher", *sys.argv[1:]]
main()
"""


def check(config: Path, data: Path) -> tuple[int, list[dict[str, object]], bool, str]:
    """Exit code, the --json results, whether the config was validated, stderr."""
    command = [sys.executable, "-c", PROBE, "--config", str(config), "--data", str(data)]
    done = subprocess.run(
        [*command, "check", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = done.stdout.splitlines()
    probe = json.loads(lines[-1]) if lines else {"validated": None}
    return done.returncode, [json.loads(x) for x in lines[:-1]], probe["validated"], done.stderr


@pytest.fixture
def site(http_server: HTTPServer, tmp_path: Path) -> tuple[HTTPServer, Path, Path]:
    http_server.route("/n.html", body="<p>船舶工业通知</p>".encode(), headers=HTML)
    http_server.route("/m.html", body="<p>造船行业通知</p>".encode(), headers=HTML)
    config = tmp_path / "targets.yaml"
    config.write_text(
        f"# the notices\ntargets:\n  - name: n\n    url: {http_server.url('/n.html')}\n", "utf-8"
    )
    return http_server, config, tmp_path / "data"


def test_the_third_check_of_an_unchanged_file_validates_nothing(site) -> None:
    _, config, data = site
    code, results, validated, _ = check(config, data)  # new: stored, no snapshot yet
    assert code == 0 and results[0]["status"] == "new" and validated
    code, results, validated, _ = check(config, data)  # validated, and kept
    assert code == 0 and results[0]["status"] == "unchanged" and validated
    assert (data / SNAPSHOT_NAME).exists()
    code, results, validated, _ = check(config, data)
    assert code == 0 and results[0]["status"] == "unchanged"
    assert validated is False


def test_an_edited_file_is_validated_again_and_its_new_values_used(site) -> None:
    server, config, data = site
    for _ in range(2):
        check(config, data)
    config.write_text(config.read_text("utf-8").replace("/n.html", "/m.html"), "utf-8")
    code, results, validated, _ = check(config, data)
    assert validated and code == 0
    assert results[0]["url"] == server.url("/m.html")
    assert results[0]["status"] in {"new", "changed"}


def test_an_edit_that_breaks_the_file_is_refused_with_its_line(site) -> None:
    _, config, data = site
    for _ in range(2):
        check(config, data)
    config.write_text(config.read_text("utf-8") + "    interval: soon\n", "utf-8")
    code, results, _, stderr = check(config, data)
    assert code == 2 and results == []
    assert f"{config}:5" in stderr and "interval" in stderr


@pytest.mark.parametrize("damage", ["{not json", '{"key": 1}', "[]", '{"key": null, "x": 1}'])
def test_a_damaged_snapshot_is_the_usual_load_and_is_written_anew(site, damage: str) -> None:
    _, config, data = site
    for _ in range(2):
        check(config, data)
    (data / SNAPSHOT_NAME).write_text(damage, "utf-8")
    code, results, validated, _ = check(config, data)
    assert code == 0 and results[0]["status"] == "unchanged" and validated
    assert load(data, config)[1] is not None  # kept again, usable


def test_a_snapshot_holds_what_the_validator_resolved_and_only_for_its_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings:\n  per_host: 3\n  host_delay: 250ms\n  allow_private: [10.0.0.0/8]\n"
        "defaults:\n  timeout: 12s\n  headers: {Referer: https://www.miit.gov.cn/}\n"
        "targets:\n  - name: a\n    url: https://www.miit.gov.cn/a.html\n    paused: true\n"
        "  - name: b\n    url: https://www.sastind.gov.cn/b.html\n    retries: 0\n"
        "    follow: {links: 'a'}\n",
        "utf-8",
    )
    validated = load_config(config)
    data = tmp_path / "data"
    data.mkdir()
    save(data, config, config.read_bytes(), validated)
    raw, kept = load(data, config)
    assert raw == config.read_bytes()
    assert kept == quick_config(validated)
    assert kept.settings.allow_private == ("10.0.0.0/8",)
    assert kept.settings.host_delay == 0.25 and kept.settings.per_host == 3
    a, b = kept.targets
    assert a.paused and a.timeout == 12.0 and a.headers == {"Referer": "https://www.miit.gov.cn/"}
    assert b.follows and b.retries == 0 and not b.paused
    other = tmp_path / "other.yaml"
    other.write_bytes(config.read_bytes())  # the same bytes under another name
    assert load(data, other)[1] is None
    config.write_text(config.read_text("utf-8") + "# a comment\n", "utf-8")
    assert load(data, config)[1] is None


def test_a_snapshot_keeps_the_terms_traditional_spellings(site) -> None:
    """The check that writes the snapshot learns its terms' traditional spellings
    once; the next checks teach them to their workers from the snapshot."""
    _, config, data = site
    config.write_text(
        "keywords:\n  ships: [船舶, 国防科工局]\n" + config.read_text("utf-8"), "utf-8"
    )
    assert [r["status"] for r in check(config, data)[1]] == ["new"]  # no data folder yet
    code, results, validated, _ = check(config, data)  # validated, and the snapshot kept
    assert code == 0 and validated and [r["status"] for r in results] == ["unchanged"]
    _, kept = load(data, config)
    assert kept is not None
    assert kept.spellings == {"船舶": frozenset({"船舶"}), "国防科工局": frozenset({"國防科工局"})}
