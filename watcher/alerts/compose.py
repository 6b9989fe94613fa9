"""Events → messages: a title and a body in plain text, HTML and Markdown.

Jinja2 templates shipped in ``watcher/alerts/templates/``; a file of the same
name in ``notifiers/templates/`` overrides one. Every page-derived string is
hostile input: HTML templates autoescape, the Markdown ones escape with ``md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from watcher.alerts.events import Event
from watcher.core.models import TermHits

# events the inbox holds (watcher.store.inbox.ALERT_KINDS): their alerts link to it
INBOX_KINDS = (
    "changed",
    "new",
    "document",
    "removed",
    "delisted",
    "restored",
    "error",
    "recovered",
)
MAX_HITS = 20  # terms listed in one message (each with its first snippets); the rest counted
METADATA_LABELS = {
    "document_number": "发文字号",
    "issuer": "发文机关",
    "written_date": "成文日期",
    "published_date": "发布日期",
    "index_number": "索引号",
    "topic": "主题分类",
    "validity": "有效性",
    "last_modified": "最后修改",
}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


@dataclass(frozen=True, slots=True)
class Composed:
    title: str
    text: str
    html: str
    markdown: str


def escape_markdown(value: object) -> str:
    """Backslash-escape what Markdown would read as formatting or links."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def hits_summary(hits: Sequence[TermHits]) -> str:
    """``船舶 ×2, 国防科工局; removed: 造船`` — terms in order of first appearance."""
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    for hit in sorted(hits, key=lambda h: h.position):
        counts = added if hit.where == "added" else removed
        name = hit.group if hit.term.startswith("re:") else hit.term
        counts[name] = counts.get(name, 0) + hit.count

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{t} ×{n}" if n > 1 else t for t, n in counts.items())

    parts = [listed(added)] if added else []
    if removed:
        parts.append(f"removed: {listed(removed)}")
    return "; ".join(parts)


class Composer:
    """Renders events with the shipped templates or the user's overrides."""

    def __init__(self, base_url: str | None = None, overrides: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        loaders: list[jinja2.BaseLoader] = []
        if overrides is not None and overrides.is_dir():
            loaders.append(jinja2.FileSystemLoader(overrides))
        loaders.append(jinja2.PackageLoader("watcher.alerts", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html.j2"], default=False),
            undefined=jinja2.StrictUndefined,  # a typo in an override fails loudly
            keep_trailing_newline=False,
        )
        self.env.filters["md"] = escape_markdown

    def compose(self, event: Event) -> Composed:
        """The message for one event."""
        context = self._context(event)
        return Composed(
            title=self._one_line(self._render("title.txt.j2", context)),
            text=self._render("body.txt.j2", context).strip() + "\n",
            html=self._render("body.html.j2", context).strip() + "\n",
            markdown=self._render("body.md.j2", context).strip() + "\n",
        )

    def compose_digest(self, tag: str, messages: Sequence[Any], since: datetime) -> Composed:
        """One message gathering several (rows with title and bodies), for a digest tag."""
        names = ", ".join(dict.fromkeys(m.target for m in messages if m.target))
        context = {"tag": tag, "messages": messages, "since": _when(since), "names": names}
        return Composed(
            title=self._one_line(self._render("digest-title.txt.j2", context)),
            text=self._render("digest.txt.j2", context).strip() + "\n",
            html=self._render("digest.html.j2", context).strip() + "\n",
            markdown=self._render("digest.md.j2", context).strip() + "\n",
        )

    def _context(self, event: Event) -> dict[str, Any]:
        hits = sorted(event.hits, key=lambda h: (h.where != "added", h.position))
        excerpt = event.excerpt
        return {
            "event": event,
            "at": _when(event.at),
            "summary": hits_summary(event.hits),
            "hits": hits[:MAX_HITS],
            "hits_omitted": max(0, len(hits) - MAX_HITS),
            "hunks": excerpt.hunks if excerpt else (),
            "omitted": excerpt.omitted if excerpt else 0,
            "diff_url": self._diff_url(event),
            "capture_url": self._url(f"/c/{event.capture_id}") if event.capture_id else None,
            "target_url": self._url(f"/t/{quote(event.target)}") if event.target else None,
            "evidence_url": self._url(f"/c/{event.evidence_id}") if event.evidence_id else None,
            "inbox_url": self._inbox_url(event),
            "document_url": self._document_url(event),
            "metadata_rows": [
                (label, event.metadata[key])
                for key, label in METADATA_LABELS.items()
                if event.metadata and event.metadata.get(key)
            ],
        }

    def _diff_url(self, event: Event) -> str | None:
        if not event.capture_id or event.kind in ("removed", "delisted", "restored"):
            return None
        if event.previous_id:
            query = f"from={event.previous_id}&to={event.capture_id}"
            return self._url(f"/t/{quote(event.target)}/diff?{query}")
        return self._url(f"/c/{event.capture_id}")

    def _inbox_url(self, event: Event) -> str | None:
        """The event's inbox item (the web UI resolves it), where people triage it."""
        if event.kind not in INBOX_KINDS or not event.target:
            return None
        query = {"target": event.target, "kind": event.kind}
        capture = event.evidence_id if event.kind in ("removed", "delisted") else event.capture_id
        if capture:
            query["capture"] = capture
        return self._url(f"/inbox/open?{urlencode(query)}")

    def _document_url(self, event: Event) -> str | None:
        """A notice's copies on every watched site (the web UI finds its document)."""
        notice = event.listing or (event.metadata or {}).get("document_number")
        if not event.capture_id or not notice or event.kind not in ("new", "changed", "document"):
            return None
        return self._url(f"/c/{event.capture_id}/document")

    def _url(self, path: str) -> str | None:
        return f"{self.base_url}{path}" if self.base_url else None

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(context)

    @staticmethod
    def _one_line(text: str) -> str:
        return " ".join(text.split())


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
