"""The compose file's two modes, read as compose reads them (Docker itself runs in
.ci/docker-check.sh): a plain `up` starts the embedded service alone, `--profile team`
the team's parts alone, and every variable the file needs is in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
ENV_EXAMPLE = (ROOT / ".env.example").read_text("utf-8")


def started(profiles: set[str]) -> set[str]:
    """The services `up` starts with these profiles on (no profile: always)."""
    return {
        name
        for name, service in COMPOSE["services"].items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }


def env_example_profiles() -> set[str]:
    found = re.search(r"^COMPOSE_PROFILES=(.*)$", ENV_EXAMPLE, flags=re.M)
    assert found, ".env.example sets COMPOSE_PROFILES"
    return set(found.group(1).strip().split(","))


def test_a_plain_up_starts_the_embedded_service_alone() -> None:
    assert started(env_example_profiles()) == {"watcher"}
    assert COMPOSE["services"]["watcher"]["ports"] == ["127.0.0.1:8080:8080"]


def test_the_team_profile_starts_postgresql_the_ui_a_dispatcher_and_two_workers() -> None:
    # a --profile on the command line replaces COMPOSE_PROFILES
    team = started({"team"})
    assert team == {"db", "web", "dispatch", "worker-1", "worker-2"}
    commands = {name: COMPOSE["services"][name]["command"] for name in team - {"db"}}
    assert commands == {
        "web": ["watcher", "serve"],
        "dispatch": ["watcher", "dispatch"],
        "worker-1": ["watcher", "worker"],
        "worker-2": ["watcher", "worker"],
    }
    for name in team - {"db"}:
        service = COMPOSE["services"][name]
        assert service["environment"]["WATCHER_STORE"].startswith("postgresql://")
        assert "watcher-team-blobs:/data" in service["volumes"]  # one blob store for all
        if name != "web":  # no web UI there to answer the image's health check
            assert service["healthcheck"] == {"disable": True}


def test_every_variable_the_file_reads_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text("utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.M))
    assert used and used <= documented, used - documented
