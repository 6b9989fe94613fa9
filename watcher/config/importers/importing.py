"""One file in, validated targets out: format detection, reading, names, validation."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import yaml

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.importers import changedetection, distill, urlists, urlwatch
from watcher.config.importers.common import Imported, Note
from watcher.config.load import parse_config_text

__all__ = ["FORMATS", "detect", "import_targets", "import_text", "name_for", "read_upload"]

FORMATS = ("urlwatch", "changedetection", "distill", "opml", "urls")
MAX_IMPORT_BYTES = 50_000_000  # a backup bigger than this is not a list of watches

Reader = Callable[[str, str], Imported]


def import_targets(
    path: Path, fmt: str | None = None, taken: Iterable[str] = (), known_urls: Iterable[str] = ()
) -> Imported:
    """Read another tool's file into validated, uniquely named targets.

    Raises ConfigError (FILE:LINE: message) when the file cannot be read at all;
    an entry that cannot become a target is left out with a note saying why.
    """
    filename = str(path)
    return import_text(_read(path, filename), filename, fmt, taken, known_urls)


def import_text(
    text: str,
    filename: str,
    fmt: str | None = None,
    taken: Iterable[str] = (),
    known_urls: Iterable[str] = (),
) -> Imported:
    """``import_targets`` on text already read (an upload); ``filename`` labels the notes."""
    readers: dict[str, Reader] = {
        "urlwatch": urlwatch.read,
        "changedetection": changedetection.read,
        "distill": distill.read,
        "opml": urlists.read_opml,
        "urls": urlists.read_urls,
    }
    fmt = fmt or detect(text, filename)
    if fmt not in readers:
        raise ConfigError([ConfigIssue(filename, 0, f"unknown format {fmt!r}; one of {FORMATS}")])
    imported = readers[fmt](text, filename)
    return _validated(imported, filename, set(taken), set(known_urls))


def read_upload(data: bytes, filename: str) -> str:
    """An uploaded file's text: a changedetection.io backup zip's ``url-watches.json``,
    else the bytes as UTF-8; a ConfigError naming the file (and line) otherwise."""
    if data[:4] == b"PK\x03\x04":
        try:
            return _from_backup_zip(io.BytesIO(data), filename)
        except zipfile.BadZipFile:
            raise ConfigError([ConfigIssue(filename, 0, "a damaged zip file")]) from None
    return _decoded(data, filename)


def _read(path: Path, filename: str) -> str:
    try:
        if zipfile.is_zipfile(path):
            return _from_backup_zip(path, filename)
        with path.open("rb") as file:
            data = file.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            [ConfigIssue(filename, 0, f"cannot read: {exc.strerror or exc}")]
        ) from None
    if len(data) > MAX_IMPORT_BYTES:
        raise ConfigError([ConfigIssue(filename, 0, "larger than 50 MB: not a list of watches")])
    return _decoded(data, filename)


def _decoded(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigIssue(filename, line, f"not UTF-8 text (byte {exc.start}); save it as UTF-8")]
        ) from None


def _from_backup_zip(source: Path | IO[bytes], filename: str) -> str:
    """changedetection.io's backup is a zip holding url-watches.json."""
    with zipfile.ZipFile(source) as archive:
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "url-watches.json"]
        if not names:
            raise ConfigError([ConfigIssue(filename, 0, "a zip without url-watches.json")])
        info = archive.getinfo(names[0])
        if info.file_size > MAX_IMPORT_BYTES:
            raise ConfigError([ConfigIssue(filename, 0, "url-watches.json is larger than 50 MB")])
        return archive.read(info).decode("utf-8-sig", "replace")


def detect(text: str, filename: str) -> str:
    """The format of a file, from its content (and its extension for OPML)."""
    head = text.lstrip()[:2000].lower()
    if filename.lower().endswith(".opml") or head.startswith("<?xml") or head.startswith("<opml"):
        return "opml"
    if head.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            issue = ConfigIssue(filename, exc.lineno, f"not valid JSON: {exc.msg}")
            raise ConfigError([issue]) from None
        if isinstance(data, dict) and "watching" in data:
            return "changedetection"
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            return "distill"
        if isinstance(data, list) and data and isinstance(data[0], dict) and "uri" in data[0]:
            return "distill"
        hint = "give --format changedetection or --format distill"
        raise ConfigError([ConfigIssue(filename, 1, f"JSON of no known tool's shape; {hint}")])
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] != "#"]
    if re.search(r"^\s*(url|navigate|command|name)\s*:(\s|$)", text, re.MULTILINE):
        return "urlwatch"
    if any(re.match(r"https?://", ln) for ln in lines):
        return "urls"
    raise ConfigError(
        [ConfigIssue(filename, 1, f"cannot tell the format; give --format ({', '.join(FORMATS)})")]
    )


# --------------------------------------------------------------------------- names

_SUFFIXES = {
    *("www", "gov", "com", "org", "net", "edu", "cn", "ac", "io"),
    *("html", "htm", "shtml", "xml", "php", "jsp", "asp", "aspx", "do"),
}


def name_for(title: str | None, url: str) -> str:
    """A name in [a-z0-9-] from the title's Latin words, else from the URL's host and path."""
    slug = _slug(title or "")
    if len(slug) >= 3:
        return slug[:48].strip("-")
    parts = urlsplit(url)
    host = [p for p in (parts.hostname or "").split(".") if p and p not in _SUFFIXES]
    path = [
        s
        for s in re.split(r"[/._]", parts.path)
        if s and s not in _SUFFIXES and s not in ("index", "default")
    ]
    words = host[-1:] + path[-2:]
    return _slug("-".join(words))[:48].strip("-") or "target"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


# --------------------------------------------------------------------------- validation


def _validated(imported: Imported, filename: str, taken: set[str], urls: set[str]) -> Imported:
    """Name each target uniquely; keep only those the config loader accepts, once each."""
    kept = []
    for target in imported.targets:
        where = target.pop("_where", filename)
        label = target.get("title") or target.get("url", "?")
        if target.get("url") in urls:
            imported.notes.append(
                Note(where, label, "url", "left out: that URL is watched already")
            )
            continue
        target = {
            "name": _unique(name_for(target.get("title"), target.get("url", "")), taken)
        } | target
        text = yaml.safe_dump({"targets": [target]}, allow_unicode=True, sort_keys=False)
        try:
            parse_config_text(text, "imported")
        except ConfigError as exc:
            taken.discard(target["name"])
            why = "; ".join(i.message for i in exc.issues)
            imported.notes.append(Note(where, label, "the whole job", f"left out: {why}"))
            continue
        kept.append(target)
        urls.add(target["url"])
    imported.targets = kept
    return imported
