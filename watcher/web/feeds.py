"""Atom feeds: all changes, one target's, and one keyword group's hits; the first
two also tell of documents removed, delisted, restored, broken or blocked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watcher.store import views
from watcher.store.index import CaptureRow, Store
from watcher.web.context import context_of

router = APIRouter(include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50


def _base(request: Request) -> str:
    config = context_of(request).config()
    if config and config.settings.base_url:
        return config.settings.base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _terms(store: Store, capture_ids: list[str]) -> dict[str, list[str]]:
    """Added terms per capture, for entry titles (no text is read)."""
    return {
        capture_id: [f"{term} ×{count}" if count > 1 else term for term, count in found]
        for capture_id, found in views.added_terms(store, capture_ids).items()
    }


_SAYS = {
    "suspected": "removal suspected",
    "removed": "removed",
    "restored": "back again",
    "delisted": "no longer listed",
    "broken": "broken link",
    "blocked": "blocked",
}


def _fate_entry(feed: ET.Element, base: str, titles: dict[str, str], e: views.FateEntry) -> None:
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    listing = titles.get(e.listing) or e.listing
    what = _SAYS.get(e.state, e.state)
    ET.SubElement(entry, f"{{{ATOM}}}title").text = f"{e.title or e.url} {what} ({listing})"
    ET.SubElement(entry, f"{{{ATOM}}}id").text = f"{base}/t/{e.document}#fate-{e.id}"
    link = f"{base}/c/{e.evidence_id}" if e.evidence_id else f"{base}/t/{e.document}"
    ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link)
    ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(e.at)
    evidence = f"; the last good capture: {link}" if e.evidence_id else "; never captured"
    ET.SubElement(entry, f"{{{ATOM}}}summary").text = (
        f"{e.title or e.url}: {what} at {e.url}" + (f" ({e.reason})" if e.reason else "") + evidence
    )


def _feed(
    request: Request,
    title: str,
    path: str,
    rows: list[CaptureRow],
    fates: Sequence[views.FateEntry] = (),
) -> Response:
    base = _base(request)
    context = context_of(request)
    config = context.config()
    configured = {t.name: t.title for t in config.targets} if config else {}
    names = [r.target for r in rows] + [f.listing for f in fates]
    titles = views.display_titles(context.store, names, configured)
    terms = _terms(context.store, [r.id for r in rows])
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}{path}"
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base}{path}")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=f"{base}/")
    times = [r.fetched_at for r in rows[:1]] + [f.at for f in fates[:1]]
    updated = max(times) if times else datetime(2000, 1, 1, tzinfo=UTC)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(updated)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "watcher"
    for row in rows:
        name = titles[row.target]
        found = terms[row.id]
        is_document = "~" in row.target  # a listing's document (see watcher.store.documents)
        what = (
            ("new notice" if is_document else "first capture")
            if row.kind == "new"
            else f"changed +{row.added}/−{row.removed}"
        )
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = f"{name} {what}" + (
            f" — {', '.join(found)}" if found else ""
        )
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"{base}/c/{row.id}"
        link = (
            f"{base}/t/{row.target}/diff?from={row.previous_id}&to={row.id}"
            if row.previous_id
            else f"{base}/c/{row.id}"
        )
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link)
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(row.fetched_at)
        summary = ET.SubElement(entry, f"{{{ATOM}}}summary")
        summary.text = f"{row.title or name}: {what} at {row.url}" + (
            f"; keyword hits: {', '.join(found)}" if found else ""
        )
    for fate in fates:
        _fate_entry(feed, base, titles, fate)
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/feed.atom")
def all_changes(request: Request) -> Response:
    store = context_of(request).store
    rows = views.changes(store, limit=ENTRIES)
    fates = views.fate_entries(store, limit=ENTRIES)
    return _feed(request, "watcher: all changes", "/feed.atom", rows, fates)


@router.get("/t/{name}/feed.atom")
def target_changes(request: Request, name: str) -> Response:
    context = context_of(request)
    store = context.store
    rows = views.changes(store, name, limit=ENTRIES)
    fates = views.fate_entries(store, name, limit=ENTRIES)
    config = context.config()
    configured = {t.name: t.title for t in config.targets} if config else {}
    title = views.display_title(store, name, configured)
    return _feed(request, f"watcher: {title}", f"/t/{name}/feed.atom", rows, fates)


@router.get("/hits/{group}/feed.atom")
def group_hits(request: Request, group: str) -> Response:
    rows = views.changes_with_hits(context_of(request).store, group, limit=ENTRIES)
    return _feed(request, f"watcher: keyword hits for {group}", f"/hits/{group}/feed.atom", rows)
