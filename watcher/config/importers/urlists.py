"""Plain lists of pages: OPML (a feed reader's export) and one URL a line."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from watcher.config.errors import ConfigError, ConfigIssue
from watcher.config.importers.common import Imported, Note

__all__ = ["read_opml", "read_urls"]

_URL_LINE = re.compile(r"(?P<url>\S+)(?:\s+(?P<title>.+))?")


def read_urls(text: str, filename: str) -> Imported:
    """One URL a line, optionally followed by a title; # starts a comment."""
    imported = Imported("urls")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _URL_LINE.fullmatch(line)
        assert match is not None  # any non-blank line matches
        url = match["url"]
        if not re.match(r"https?://[^/\s]+", url):
            imported.notes.append(
                Note(f"{filename}:{number}", line[:60], "url", "left out: not an http(s) URL")
            )
            continue
        target: dict[str, Any] = {"_where": f"{filename}:{number}", "url": url}
        if match["title"]:
            target["title"] = match["title"].strip()
        imported.targets.append(target)
    return imported


def read_opml(text: str, filename: str) -> Imported:
    """Every outline with an xmlUrl (the feed) or an htmlUrl/url (the page); folders → tags."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise ConfigError(
            [ConfigIssue(filename, line, f"not valid OPML (XML): {exc.msg}")]
        ) from None
    if root.tag != "opml":
        raise ConfigError(
            [ConfigIssue(filename, root.sourceline or 1, f"<{root.tag}> is not <opml>")]
        )
    imported = Imported("opml")
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("htmlUrl") or outline.get("url")
        if not url:
            continue
        where = f"{filename}:{outline.sourceline or 0}"
        target: dict[str, Any] = {"_where": where, "url": url.strip()}
        title = outline.get("title") or outline.get("text")
        if title:
            target["title"] = title.strip()
        folders = [
            a.get("title") or a.get("text")
            for a in outline.iterancestors("outline")
            if a.get("title") or a.get("text")
        ]
        if folders:
            target["tags"] = list(reversed(folders))
        imported.targets.append(target)
    if not imported.targets:
        imported.notes.append(Note(filename, "the file", "outline", "no outline with a URL"))
    return imported
