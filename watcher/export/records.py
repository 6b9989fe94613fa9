"""The store's answers as export tables: the inbox, hits, documents and a target's
history, each row citing its capture.

Every table ends with the same citation columns: the notice's title, 发文字号,
发文机关 and 发布日期 (from the capture's metadata), the URL, the capture time in
UTC and in the configured zone, the SHA-256 of the bytes as received and the
capture's permalink, so a row pasted into a report can be checked against the
evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from watcher.export.tables import Cell, Table
from watcher.store import exports, inbox, views
from watcher.store.index import CaptureRow, Store

__all__ = [
    "KINDS",
    "Citing",
    "documents_table",
    "file_name",
    "history_table",
    "hits_table",
    "inbox_table",
]

KINDS = ("inbox", "hits", "documents", "history")
PAGE = 1000  # rows read from the store at once
LIMIT = 100_000  # rows at most in one export (more than a spreadsheet wants)


@dataclass(frozen=True, slots=True)
class Citing:
    """How rows cite captures: permalinks under ``base_url`` (none: site-relative),
    local times in ``zone``."""

    base_url: str | None
    zone: ZoneInfo

    def permalink(self, capture_id: str) -> str:
        return f"{(self.base_url or '').rstrip('/')}/c/{capture_id}"

    def columns(self) -> list[str]:
        return [
            "Title",
            "发文字号",
            "发文机关",
            "发布日期",
            "URL",
            "Captured (UTC)",
            f"Captured ({self.zone.key})",
            "SHA-256",
            "Capture",
            "Permalink",
        ]

    def cells(self, capture: CaptureRow | None, title: str = "", published: str = "") -> list[Cell]:
        """The citation cells of ``capture`` (blank when there is none); ``title`` and
        ``published`` stand in where its metadata has none (a listing's words)."""
        if capture is None:
            return [title, "", "", published, "", None, None, "", "", ""]
        md: dict[str, Any] = capture.metadata or {}
        return [
            str(md.get("title") or notice_title(capture.title) or title),
            str(md.get("document_number") or md.get("document_number_raw") or ""),
            str(md.get("issuer") or ""),
            str(md.get("published_date") or published),
            capture.final_url or capture.url,
            capture.fetched_at,
            capture.fetched_at.astimezone(self.zone),
            capture.raw_sha256,
            capture.id,
            self.permalink(capture.id),
        ]


SITE_SUFFIX = re.compile(r"\s*(?:_+|\s[|｜-]\s|｜)\s*")  # "标题_国务院文件_中国政府网"


def notice_title(title: str) -> str:
    """A page title without the site's trail (``关于…的通知_国务院文件_中国政府网`` →
    ``关于…的通知``): what a citation calls the notice."""
    first = SITE_SUFFIX.split(title.strip(), maxsplit=1)[0].strip()
    return first if len(first) >= 4 else title.strip()


def file_name(kind: str, extension: str, day: date, subject: str | None = None) -> str:
    """``watcher-hits-2026-12-02.xlsx``, ``watcher-history-miit-2026-12-02.csv``."""
    middle = f"-{subject}" if subject else ""
    return f"watcher-{kind}{middle}-{day.isoformat()}.{extension}"


def _paged(read: Callable[[int, int], Sequence[Any]]) -> list[Any]:
    """Every row of a paged read, up to LIMIT."""
    rows: list[Any] = []
    while len(rows) < LIMIT:
        page = read(PAGE, len(rows))
        rows.extend(page)
        if len(page) < PAGE:
            break
    return rows[:LIMIT]


def _captures(store: Store, ids: Iterable[str | None]) -> dict[str, CaptureRow]:
    return exports.captures_by_id(store, [i for i in ids if i])


def hits_table(
    store: Store, citing: Citing, group: str | None = None, target: str | None = None
) -> Table:
    """Keyword hits, newest first (the /hits page's filters)."""
    rows = _paged(lambda limit, offset: views.hit_rows(store, group, target, limit, offset))
    found = _captures(store, (r.capture_id for r in rows))
    head = ["Target", "Group", "Term", "Where", "Count"]
    return Table(
        "hits",
        [*head, *citing.columns()],
        [
            [r.target, r.group, r.term, r.where, r.count, *citing.cells(found.get(r.capture_id))]
            for r in rows
        ],
    )


def documents_table(store: Store, citing: Citing, listing: str | None = None) -> Table:
    """The documents listings found (one listing's, or all), newest first, each cited
    by its newest capture."""
    names = [listing] if listing else exports.listing_names(store)
    docs = [(name, d) for name in names for d in views.listed_documents(store, name, LIMIT)]
    found = _captures(store, (d.last_capture_id for _, d in docs))
    head = [
        "Listing",
        "Document",
        "Kind",
        "State",
        "Listed date",
        "First seen (UTC)",
        "Delisted (UTC)",
        "Captures",
        "Hits",
    ]
    rows: list[list[Cell]] = []
    for name, d in docs:
        capture = found.get(d.last_capture_id or "")
        cited = citing.cells(capture, d.title, d.listed_date or "")
        if capture is None:
            cited[4] = d.url
        rows.append(
            [
                name,
                d.name,
                d.kind,
                d.state,
                d.listed_date or "",
                d.first_seen_at,
                d.delisted_at,
                d.captures,
                d.hits,
                *cited,
            ]
        )
    return Table("documents", [*head, *citing.columns()], rows)


def history_table(store: Store, citing: Citing, name: str) -> Table:
    """A target's captures, newest first."""
    head = ["Target", "Kind", "HTTP status", "Added", "Removed", "Hits", "Content type"]
    return Table(
        f"history {name}",
        [*head, *citing.columns()],
        [
            [
                c.target,
                c.kind,
                c.status_code,
                c.added,
                c.removed,
                c.hit_count,
                c.content_type or "",
                *citing.cells(c),
            ]
            for c in store.history(name)[:LIMIT]
        ],
    )


def inbox_table(store: Store, citing: Citing, user: str, wanted: inbox.Filter) -> Table:
    """The inbox as ``user`` reads it with the filters ``wanted``, newest first; each
    item cited by its first event's capture. Reading state is not changed."""
    items = _paged(
        lambda limit, offset: inbox.items(
            store, user, wanted, page=offset // limit + 1, per_page=limit
        )[0]
    )
    found = _captures(store, (i.first.capture_id if i.first else None for i in items))
    head = [
        "Item",
        "Kind",
        "Item title",
        "Target",
        "First (UTC)",
        "Last (UTC)",
        "Events",
        "State",
        "Assignee",
        "Unread",
        "Detail",
    ]
    rows: list[list[Cell]] = []
    for i in items:
        event = i.first
        capture = found.get(event.capture_id or "") if event else None
        rows.append(
            [
                i.id,
                i.kind,
                i.title,
                i.target,
                i.first_at,
                i.last_at,
                i.count,
                i.state or "",
                i.assignee or "",
                "yes" if i.unread else "no",
                (event.detail or "") if event else "",
                *citing.cells(capture),
            ]
        )
    return Table("inbox", [*head, *citing.columns()], rows)
