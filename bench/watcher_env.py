"""watcher for the comparison: targets.yaml, the `check --json` command, its output and store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from govsite import PageInfo
from urlwatch_env import classify_text

KEYWORDS = {"shipbuilding": ["船舶", "造船"], "sastind": ["国防科工局"]}


def binary() -> Path:
    """The watcher command of the venv running the benchmark (else the repo's .venv)."""
    beside = Path(sys.executable).parent / "watcher"
    if beside.exists():
        return beside
    return Path(__file__).resolve().parent.parent / ".venv" / "bin" / "watcher"


def precompile() -> None:
    """Byte-compile watcher's modules, as installing a package does.

    An editable install under PYTHONDONTWRITEBYTECODE (set on some machines) would
    otherwise compile every module from source in every run, a cost installed
    tools such as urlwatch never pay.
    """
    package = Path(__file__).resolve().parent.parent / "watcher"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def write_targets(
    pages: Iterable[PageInfo],
    path: Path,
    concurrency: int = 16,
    per_host: int | None = None,
    keywords: dict[str, list[str]] | None = None,
) -> None:
    """One target per page; no host delay so the local benchmark is not throttled."""
    per_host = concurrency if per_host is None else per_host
    config = {
        "settings": {"concurrency": concurrency, "per_host": per_host, "host_delay": 0},
        "keywords": KEYWORDS if keywords is None else keywords,
        "targets": [{"name": p.name, "url": p.url} for p in pages],
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")


def base_command(work: Path) -> list[str]:
    return [
        str(binary()),
        "--config",
        str(work / "targets.yaml"),
        "--data",
        str(work / "snapshots"),
        "--notifiers",
        str(work / "notifiers"),  # empty: no channel, nothing sent
    ]


def check_command(work: Path) -> list[str]:
    return [*base_command(work), "check", "--json"]


@dataclass(slots=True)
class CheckOutput:
    statuses: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    pages_with_hits: int = 0
    other_lines: int = 0


def parse_check_output(stdout: Path) -> CheckOutput:
    """Statuses, error kinds and keyword hits from the JSON lines of `watcher check --json`."""
    out = CheckOutput()
    with stdout.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                out.other_lines += bool(line.strip())
                continue
            if not isinstance(obj, dict) or "target" not in obj:
                out.other_lines += 1
                continue
            out.statuses[str(obj["target"])] = str(obj.get("status"))
            if obj.get("error"):
                out.errors[str(obj["error"])[:80]] += 1
            out.pages_with_hits += bool(obj.get("hits"))
    return out


def count_captures(data_dir: Path) -> int | None:
    """Captures held by the store. ADAPT HERE if the store's schema changes."""
    index = data_dir / "index.sqlite"
    if not index.exists():
        return None
    try:
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM captures").fetchone()[0]
    except sqlite3.Error as exc:
        print(f"warning: cannot count captures in {index}: {exc}", file=sys.stderr)
        return None


def decode_sample(
    work: Path, pages: Iterable[PageInfo], per_kind: int = 10, timeout: float = 60
) -> dict[str, Counter[str]]:
    """Run `watcher test NAME` on a few pages of each encoding class; classify the text shown."""
    chosen: dict[str, list[PageInfo]] = {}
    for page in pages:
        group = chosen.setdefault(page.kind, [])
        if len(group) < per_kind and page.size < 200_000:
            group.append(page)
    result: dict[str, Counter[str]] = {}
    for kind, group in chosen.items():
        counts = result.setdefault(kind, Counter())
        for page in group:
            try:
                proc = subprocess.run(
                    [*base_command(work), "test", page.name],
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                counts["failed"] += 1
                continue
            text = proc.stdout.decode("utf-8", errors="replace")
            counts[classify_text(text) if proc.returncode == 0 else "failed"] += 1
    return result
