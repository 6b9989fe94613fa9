"""urlwatch for the comparison: its own venv, job list, config, cache and report parsing.

urlwatch (2.x) runs its jobs on a fixed pool of 10 threads (``worker.MAX_WORKERS``,
not configurable), keeps the text of each version in a minidb (SQLite) cache with
one ``CacheEntry`` row per stored version, and sends If-None-Match/If-Modified-Since
once it has seen an ETag. ``filter: html2text`` without a method is its regex tag
stripper (method ``re``); ``--urlwatch-method pyhtml2text`` uses the html2text
package instead.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import yaml
from govsite import COMMON_WORD, RARE_CHARS, PageInfo

PACKAGES = ("urlwatch", "html2text")
_SUMMARY_RE = re.compile(r"^\d+\. (NEW|CHANGED|UNCHANGED|ERROR): (\S+)")


def ensure_venv(venv: Path) -> Path:
    """Create ``venv`` with urlwatch in it unless it is there; return the urlwatch binary."""
    binary = venv / "bin" / "urlwatch"
    if binary.exists():
        return binary
    print(f"creating {venv} and installing {' '.join(PACKAGES)} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, *PACKAGES], check=True)
    return binary


def version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or out.stderr.strip()


def write_jobs(pages: Iterable[PageInfo], path: Path, method: str = "re") -> None:
    """One url job per page, filtered through html2text."""
    options = {} if method == "re" else {"method": method}
    flt = [{"html2text": options}]  # dict style of `filter: html2text` (no deprecation warning)
    jobs = [{"name": p.name, "url": p.url, "filter": flt} for p in pages]
    path.write_text(yaml.safe_dump_all(jobs, allow_unicode=True, sort_keys=False), "utf-8")


def write_config(path: Path) -> None:
    """Only the stdout reporter (to a file), plain text; the default display settings.

    Unchanged jobs are not listed (urlwatch's default): listing them would print
    their whole text, a cost no real setup pays.
    """
    config = {
        "display": {"new": True, "error": True, "unchanged": False, "empty-diff": True},
        "report": {
            "text": {"details": True, "footer": False, "minimal": False, "separate": False},
            "stdout": {"enabled": True, "color": False},
            "email": {"enabled": False},
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")


def command(binary: Path, work: Path) -> list[str]:
    return [
        str(binary),
        "--urls",
        str(work / "jobs.yaml"),
        "--config",
        str(work / "urlwatch.yaml"),
        "--hooks",
        str(work / "hooks.py"),  # never created: no hooks
        "--cache",
        str(work / "cache.db"),
    ]


def parse_report(stdout: Path, names: Iterable[str]) -> dict[str, str]:
    """Job name → new/changed/unchanged/error from the report's summary lines.

    Jobs the report does not list are unchanged (display.unchanged is off).
    """
    statuses = dict.fromkeys(names, "unchanged")
    with stdout.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            match = _SUMMARY_RE.match(line)
            if match:
                statuses[match.group(2)] = match.group(1).lower()
    return statuses


def cache_files(work: Path) -> list[Path]:
    return sorted(work.glob("cache.db*"))


def cache_rows(cache: Path) -> int | None:
    """Versions stored in the cache (one CacheEntry row each); None if unreadable."""
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM CacheEntry").fetchone()[0]
    except sqlite3.Error:
        return None


def guid(url: str) -> str:
    """urlwatch's job id: SHA-1 of the location."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def classify_text(text: str | None) -> str:
    """ok: Chinese intact; lossy: readable but the GBK-only characters lost; mojibake."""
    if text is None:
        return "missing"
    if COMMON_WORD not in text:
        return "mojibake"
    if all(ch in text for ch in RARE_CHARS):
        return "ok"
    return "lossy"


def decode_check(cache: Path, pages: Iterable[PageInfo]) -> dict[str, Counter[str]]:
    """Per encoding class, how the latest stored text of each page came out."""
    by_kind: dict[str, Counter[str]] = {}
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        for page in pages:
            row = db.execute(
                "SELECT data FROM CacheEntry WHERE guid = ? ORDER BY timestamp DESC LIMIT 1",
                (guid(page.url),),
            ).fetchone()
            by_kind.setdefault(page.kind, Counter())[classify_text(row[0] if row else None)] += 1
    return by_kind
