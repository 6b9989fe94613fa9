"""The JSON API under ``/api/`` (OpenAPI docs at ``/api/docs``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from watcher.diff.ops import diff_texts
from watcher.diff.render import to_json
from watcher.keywords import any_branch_in
from watcher.store import views
from watcher.store.blobs import BlobError
from watcher.store.index import CaptureRow, StoreError
from watcher.store.search import QueryError, parse_query
from watcher.web import evidence
from watcher.web.context import context_of
from watcher.web.pages import dashboard_rows

router = APIRouter(prefix="/api", tags=["api"])


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def capture_json(c: CaptureRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "target": c.target,
        "kind": c.kind,
        "previous_id": c.previous_id,
        "url": c.url,
        "final_url": c.final_url,
        "status_code": c.status_code,
        "fetched_at": _iso(c.fetched_at),
        "duration": c.duration,
        "title": c.title,
        "content_type": c.content_type,
        "encoding": c.encoding,
        "raw_sha256": c.raw_sha256,
        "raw_size": c.raw_size,
        "text_sha256": c.text_sha256,
        "text_size": c.text_size,
        "added": c.added,
        "removed": c.removed,
        "hit_count": c.hit_count,
        "metadata": c.metadata or {},  # keys: README, "Notice metadata"
    }


@router.get("/targets", summary="Every target with its state", response_model=list[dict[str, Any]])
def targets(
    request: Request,
    page: int | None = Query(None, ge=1, description="a page of ``per_page`` targets"),
    per_page: int = Query(1000, ge=1, le=10000),
) -> Response:
    """In the config's order; without ``page`` all of them. Written as JSON directly: the
    encoder's walk over 10,000 targets' dictionaries cost more than reading them."""
    rows = dashboard_rows(context_of(request), counted=True)
    total = len(rows)
    if page is not None:
        rows = rows[(page - 1) * per_page : page * per_page]
    body = [
        {
            "name": r.name,
            "title": r.title,
            "url": r.url,
            "tags": list(r.tags),
            "status": r.status,
            "last_checked_at": _iso(r.last_checked_at),
            "last_change_at": _iso(r.last_change_at),
            "consecutive_errors": r.consecutive_errors,
            "last_error": r.last_error,
            "hits_7d": r.hits_7d,
            "captures": r.captures,
            "configured": r.configured,
        }
        for r in rows
    ]
    response = JSONResponse(body, headers={"X-Total-Count": str(total)})
    if page is not None and page * per_page < total:
        following = request.url.include_query_params(page=page + 1, per_page=per_page)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response


@router.get("/targets/{name}/captures", summary="A target's captures, newest first")
def captures(
    request: Request, name: str, page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=500)
) -> dict[str, Any]:
    rows, total = views.timeline(context_of(request).store, name, page, per_page)
    if not total and name not in context_of(request).store.target_names():
        raise HTTPException(404, f"no target named {name!r}")
    return {"total": total, "page": page, "captures": [capture_json(c) for c in rows]}


@router.get("/captures/{capture_id}", summary="One capture, with its text and hits")
def capture(request: Request, capture_id: str, text: bool = True) -> dict[str, Any]:
    store = context_of(request).store
    try:
        row = store.capture(capture_id)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    out = capture_json(row)
    out["headers"] = row.headers
    out["warnings"] = row.warnings or []
    out["hits"] = [h.to_json() for h in store.hits_of(row.id)] if row.hit_count else []
    if text:  # a damaged text is never given as the text: null, and why
        try:
            out["text"], out["damaged"] = store.text(row), None
        except BlobError as exc:
            out["text"], out["damaged"] = None, evidence.notice(row, "text", exc)
    return out


@router.get("/targets/{name}/diff", summary="The diff of two captures (default: the last two)")
def diff(
    request: Request,
    name: str,
    from_: str | None = Query(None, alias="from"),
    to: str | None = None,
) -> dict[str, Any]:
    store = context_of(request).store
    try:
        old, new = views.capture_pair(store, name, from_, to)
    except (StoreError, LookupError) as exc:
        raise HTTPException(404, str(exc)) from None
    texts = []
    for row in (old, new):
        try:
            texts.append(store.text(row))
        except BlobError as exc:
            detail = evidence.notice(row, "text", exc)
            raise HTTPException(evidence.DAMAGED_STATUS, detail) from None
    result = diff_texts(*texts, timeout=5.0)
    return {"from": old.id, "to": new.id, **to_json(result)}


@router.get("/hits", summary="Keyword hits, newest first")
def hits(
    request: Request,
    group: str | None = None,
    target: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    rows = views.hit_rows(context_of(request).store, group, target, limit, offset)
    return [
        {
            "capture_id": r.capture_id,
            "previous_id": r.previous_id,
            "target": r.target,
            "fetched_at": _iso(r.fetched_at),
            "group": r.group,
            "term": r.term,
            "where": r.where,
            "count": r.count,
        }
        for r in rows
    ]


@router.get("/search", summary="Full-text search over every captured text, newest first")
def search(
    request: Request,
    q: str,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    try:
        query = parse_query(q)
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from None
    results, more = views.search(
        context_of(request).store,
        query,
        any_branch_in([b.terms for b in query.branches]),
        limit=limit,
        offset=offset,
    )
    return {
        "query": q,
        "more": more,
        "results": [
            {"capture": capture_json(r.capture), "snippets": r.snippets, "versions": r.versions}
            for r in results
        ],
    }


@router.get("/targets/{name}/documents", summary="A listing's documents and their state")
def listed(request: Request, name: str) -> list[dict[str, Any]]:
    """State is ``baseline`` (there at the first check; archived in the background),
    ``deferred`` (over the cap, fetched later), ``active`` (captured), ``suspected``
    (looks removed, not yet confirmed), ``removed``, ``broken`` (never answered with
    content) or ``blocked`` (an anti-bot answer)."""
    return [
        {
            "name": d.name,
            "kind": d.kind,
            "url": d.url,
            "title": d.title,
            "listed_date": d.listed_date,
            "first_seen_at": _iso(d.first_seen_at),
            "state": d.state,
            "reason": d.reason,
            "delisted_at": _iso(d.delisted_at),
            "captures": d.captures,
            "hits": d.hits,
            "last_capture_id": d.last_capture_id,
            "listed_fields": d.listed_fields or {},  # a JSON listing's item, as given
        }
        for d in views.listed_documents(context_of(request).store, name, limit=1000)
    ]
