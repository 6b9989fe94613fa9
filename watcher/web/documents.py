"""One document across sites: ``/d/{id}`` (its copies, who was first, how each
repost differs, what it cites and what cites it), ``/deadlines``, following a
document, and the JSON, CSV and XLSX of documents, copies, citations and deadlines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from watcher.diff.ops import diff_texts
from watcher.diff.render import small_edits, to_html_inline
from watcher.export.tables import FORMATS, MEDIA_TYPES, Table, write
from watcher.store import works
from watcher.store.blobs import BlobError
from watcher.store.index import SideEngine, StoreError
from watcher.web.context import context_of
from watcher.web.evidence import attachment
from watcher.web.identity import require
from watcher.web.pages import DIFF_BUDGET, error_page, render

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["documents"])

BEIJING = timedelta(hours=8)  # deadlines are Beijing dates
COMPARED = 20  # reposts diffed against the original on one page view (each has DIFF_BUDGET)


@dataclass(frozen=True, slots=True)
class CopyView:
    """A copy as the page shows it: how long after the first, and how its text differs."""

    copy: works.CopyRow
    after: timedelta | None  # None: the first
    same_text: bool | None  # None: not compared (the first, or damaged evidence)
    added: int
    removed: int
    diff_html: Markup | None
    edits: list[object]


def register(templates: Jinja2Templates) -> None:
    """What other pages use to link to a document: ``documents_of(request, names)``
    (a target name → its document's id and copies) and the ``delay`` filter."""
    templates.env.globals["documents_of"] = documents_of
    templates.env.filters["delay"] = delay


def documents_of(request: Request, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The documents the named targets are copies of, with their number of copies;
    {} when the store cannot say."""
    try:
        return works.works_of_targets(context_of(request).store.engine, list(names))
    except StoreError:
        return {}  # no index yet


def delay(value: timedelta) -> str:
    """How long after the first a copy appeared: ``3 d 4 h``, ``25 min``."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return "at once" if seconds < 1 else f"{seconds} s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _writer(request: Request) -> SideEngine:
    side = getattr(request.app.state, "works_writer", None)
    if side is None:
        side = request.app.state.works_writer = SideEngine(
            context_of(request).data, context_of(request).index
        )
    return side


def _found(request: Request, work_id: int) -> works.WorkRow:
    found = works.work(context_of(request).store.engine, work_id)
    if found is None:
        raise HTTPException(404, f"no document {work_id}")
    return found


def _text(request: Request, capture_id: str) -> str | None:
    store = context_of(request).store
    try:
        return store.text(store.capture(capture_id))
    except (BlobError, StoreError):
        return None


def _compared(request: Request, found: Sequence[works.CopyRow]) -> list[CopyView]:
    """Each repost's latest text against the original's first: a changed repost is a finding."""
    if not found:
        return []
    first = found[0]
    original = _text(request, first.first_capture_id)
    out = [CopyView(first, None, None, 0, 0, None, [])]
    for index, copy in enumerate(found[1:]):
        after = copy.first_seen_at - first.first_seen_at
        text = _text(request, copy.last_capture_id) if index < COMPARED else None
        if original is None or text is None:
            out.append(CopyView(copy, after, None, 0, 0, None, []))
            continue
        diff = diff_texts(original, text, timeout=DIFF_BUDGET)
        if not diff.changed:
            out.append(CopyView(copy, after, True, 0, 0, None, []))
            continue
        added = sum(len(op.text) for op in diff.ops if op.kind == "insert")
        removed = sum(len(op.text) for op in diff.ops if op.kind == "delete")
        edits, _count = small_edits(diff, 10)
        body = Markup(to_html_inline(diff, 1))  # escaped by the renderer
        out.append(CopyView(copy, after, False, added, removed, body, list(edits)))
    return out


def _today(request: Request) -> str:
    now: datetime = request.app.state.clock.now()
    return (now.astimezone(UTC) + BEIJING).date().isoformat()


@router.get("/d/{work_id}", response_class=HTMLResponse)
def document_page(request: Request, work_id: int) -> HTMLResponse:
    """Every copy with its first-seen time, versions and differences; citations both ways."""
    try:
        found = _found(request, work_id)
    except HTTPException as exc:
        return error_page(request, 404, str(exc.detail), ("/documents", "all documents"))
    engine = context_of(request).store.engine
    user = require(request, "viewer")
    followers = works.followers(engine, work_id)
    return render(
        request,
        "document.html",
        title=f"{found.label()} — watcher",
        work=found,
        copies=_compared(request, works.copies(engine, work_id)),
        cites=works.cites(engine, work_id),
        cited_by=works.cited_by(engine, work_id),
        deadlines=works.deadlines(engine, work_id=work_id),
        following=user.name in followers,
        followers=followers,
        today=_today(request),
    )


@router.get("/c/{capture_id}/document")
def capture_document(request: Request, capture_id: str) -> Response:
    """An alert's link: the document the capture is a copy of (or the capture, if none)."""
    found = works.work_of_capture(context_of(request).store.engine, capture_id)
    where = f"/d/{found}" if found is not None else f"/c/{quote(capture_id)}"
    return RedirectResponse(where, status_code=303)


@router.post("/d/{work_id}/follow")
def follow(request: Request, work_id: int, csrf: str = Form(""), on: str = Form("1")) -> Response:
    """Follow a document: a new notice citing it becomes an inbox item and an alert."""
    request.app.state.guard.require_csrf(request, csrf)
    user = require(request, "viewer")
    _found(request, work_id)
    works.follow(_writer(request)(), work_id, user.name, request.app.state.clock.now(), on == "1")
    return RedirectResponse(f"/d/{work_id}", status_code=303)


@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request, page: int = 1) -> HTMLResponse:
    """The documents seen, newest first, with how many sites carry each."""
    per_page = 100
    rows = works.all_works(
        context_of(request).store.engine, per_page + 1, (max(page, 1) - 1) * per_page
    )
    return render(
        request,
        "documents.html",
        title="Documents — watcher",
        rows=rows[:per_page],
        page=max(page, 1),
        more=len(rows) > per_page,
    )


@router.get("/deadlines", response_class=HTMLResponse)
def deadlines_page(request: Request, past: int = 0) -> HTMLResponse:
    """Upcoming dates notices ask something by (``past=1``: every one)."""
    today = _today(request)
    rows = works.deadlines(context_of(request).store.engine, None if past else today)
    return render(
        request,
        "deadlines.html",
        title="Deadlines — watcher",
        rows=rows,
        today=today,
        past=bool(past),
    )


# -- JSON and CSV ------------------------------------------------------------------------


def _table(
    name: str, format: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """A spreadsheet through the exports' one writer: a BOM for CSV, formula-looking
    cells (a scraped title is untrusted) escaped in both formats."""
    if format not in FORMATS:
        raise HTTPException(404, f"no table as .{format}: ask for .csv or .xlsx")
    table = Table(name, header, [list(row) for row in rows])  # type: ignore[arg-type]
    return Response(
        write(table, format),  # type: ignore[arg-type]
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": attachment(f"{name}.{format}")},
    )


@api.get("/documents")
def api_documents(request: Request, limit: int = 500, offset: int = 0) -> JSONResponse:
    """Documents, newest first."""
    rows = works.all_works(context_of(request).store.engine, min(max(limit, 1), 5000), offset)
    return JSONResponse({"documents": [r.to_json() for r in rows]})


@api.get("/documents.{format}")
def api_documents_table(request: Request, format: str) -> Response:
    rows = works.all_works(context_of(request).store.engine, 1_000_000)
    return _table(
        "documents",
        format,
        ("id", "document_number", "issuer", "title", "first_seen_at", "copies"),
        ((r.id, r.document_number, r.issuer, r.title, r.first_seen_at, r.copies) for r in rows),
    )


@api.get("/documents/{work_id}")
def api_document(request: Request, work_id: int) -> JSONResponse:
    """One document: its copies (first seen first) with their versions, what it cites,
    what cites it, and its deadlines."""
    found = _found(request, work_id)
    engine = context_of(request).store.engine
    return JSONResponse(
        {
            **found.to_json(),
            "copies": [c.to_json() for c in works.copies(engine, work_id)],
            "cites": [c.to_json() for c in works.cites(engine, work_id)],
            "cited_by": [c.to_json() for c in works.cited_by(engine, work_id)],
            "deadlines": [d.to_json() for d in works.deadlines(engine, work_id=work_id)],
        }
    )


@api.get("/documents/{work_id}/copies.{format}")
def api_copies_table(request: Request, work_id: int, format: str) -> Response:
    _found(request, work_id)
    rows = works.copies(context_of(request).store.engine, work_id)
    return _table(
        f"document-{work_id}-copies",
        format,
        ("target", "url", "first_seen_at", "first_capture_id", "last_capture_id", "linked_by",
         "similarity", "versions"),
        (
            (c.target, c.url, c.first_seen_at, c.first_capture_id,
             c.last_capture_id, c.linked_by, c.similarity, len(c.versions))
            for c in rows
        ),
    )  # fmt: skip


@api.get("/citations")
def api_citations(request: Request) -> JSONResponse:
    """Every citation seen: citing document, cited 文号 and title, the known cited document."""
    rows = works.all_citations(context_of(request).store.engine)
    return JSONResponse({"citations": [c.to_json() for c in rows]})


@api.get("/citations.{format}")
def api_citations_table(request: Request, format: str) -> Response:
    rows = works.all_citations(context_of(request).store.engine)
    return _table(
        "citations",
        format,
        ("citing_id", "number", "title", "cited_id", "snippet"),
        ((c.work_id, c.number, c.title, c.cited_id, c.snippet) for c in rows),
    )


@api.get("/deadlines")
def api_deadlines(request: Request, past: int = 0) -> JSONResponse:
    """Upcoming deadlines, soonest first (``past=1``: all)."""
    rows = works.deadlines(context_of(request).store.engine, None if past else _today(request))
    return JSONResponse({"deadlines": [d.to_json() for d in rows]})


@api.get("/deadlines.{format}")
def api_deadlines_table(request: Request, format: str, past: int = 0) -> Response:
    rows = works.deadlines(context_of(request).store.engine, None if past else _today(request))
    return _table(
        "deadlines",
        format,
        ("date", "kind", "document_id", "document", "target", "capture_id", "sentence"),
        ((d.date, d.kind, d.work_id, d.label, d.target, d.capture_id, d.sentence) for d in rows),
    )
