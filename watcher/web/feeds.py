"""Atom feeds: all changes, one target's, and one keyword group's hits."""

from __future__ import annotations

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


def _feed(request: Request, title: str, path: str, rows: list[CaptureRow]) -> Response:
    base = _base(request)
    context = context_of(request)
    config = context.config()
    titles = {t.name: t.title for t in config.targets} if config else {}
    terms = _terms(context.store, [r.id for r in rows])
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}{path}"
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base}{path}")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=f"{base}/")
    updated = rows[0].fetched_at if rows else datetime(2000, 1, 1, tzinfo=UTC)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(updated)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "watcher"
    for row in rows:
        name = titles.get(row.target) or row.title or row.target
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
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/feed.atom")
def all_changes(request: Request) -> Response:
    rows = views.changes(context_of(request).store, limit=ENTRIES)
    return _feed(request, "watcher: all changes", "/feed.atom", rows)


@router.get("/t/{name}/feed.atom")
def target_changes(request: Request, name: str) -> Response:
    rows = views.changes(context_of(request).store, name, limit=ENTRIES)
    return _feed(request, f"watcher: {name}", f"/t/{name}/feed.atom", rows)


@router.get("/hits/{group}/feed.atom")
def group_hits(request: Request, group: str) -> Response:
    rows = views.changes_with_hits(context_of(request).store, group, limit=ENTRIES)
    return _feed(request, f"watcher: keyword hits for {group}", f"/hits/{group}/feed.atom", rows)
