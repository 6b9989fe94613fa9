"""CSV and XLSX downloads of the inbox, hits, documents and a target's history, with
the filters of the page they are linked from; a viewer may export what they may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from watcher.export import records
from watcher.export.tables import FORMATS, MEDIA_TYPES, Table, write
from watcher.web.context import context_of
from watcher.web.evidence import attachment
from watcher.web.identity import current_user
from watcher.web.inbox import Params, _filter  # /inbox's own reading of its query
from watcher.web.pages import citing, error_page

router = APIRouter(include_in_schema=False)


def _download(
    request: Request, table: Table, kind: str, format: str, subject: str = ""
) -> Response:
    day = request.app.state.clock.now().astimezone(citing(request).zone).date()
    name = records.file_name(kind, format, day, subject or None)
    return Response(
        write(table, format),  # type: ignore[arg-type]
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": attachment(name), "Cache-Control": "private, no-store"},
    )


def _bad_format(request: Request, format: str) -> Response | None:
    if format in FORMATS:
        return None
    return error_page(request, 404, f"no export as .{format}: ask for .csv or .xlsx")


@router.get("/export/hits.{format}")
def export_hits(
    request: Request, format: str, group: str | None = None, target: str | None = None
) -> Response:
    """The keyword hits, as /hits filters them."""
    if (bad := _bad_format(request, format)) is not None:
        return bad
    store = context_of(request).store
    table = records.hits_table(store, citing(request), group or None, target or None)
    return _download(request, table, "hits", format, target or group or "")


@router.get("/export/documents.{format}")
def export_documents(request: Request, format: str, target: str | None = None) -> Response:
    """The documents of every listing, or of the listing ``target``."""
    if (bad := _bad_format(request, format)) is not None:
        return bad
    store = context_of(request).store
    table = records.documents_table(store, citing(request), target or None)
    return _download(request, table, "documents", format, target or "")


@router.get("/export/inbox.{format}")
def export_inbox(request: Request, format: str, params: Annotated[Params, Depends()]) -> Response:
    """The inbox as the user reads it with /inbox's filters (read marks unchanged)."""
    if (bad := _bad_format(request, format)) is not None:
        return bad
    user = current_user(request).name
    store = context_of(request).store
    table = records.inbox_table(store, citing(request), user, _filter(request, params))
    return _download(request, table, "inbox", format, params.target or params.tag)


@router.get("/t/{name}/history.{format}")
def export_history(request: Request, name: str, format: str) -> Response:
    """A target's captures, newest first."""
    if (bad := _bad_format(request, format)) is not None:
        return bad
    store = context_of(request).store
    if name not in store.target_names():
        return error_page(request, 404, f"no target named {name!r} in the store")
    return _download(
        request, records.history_table(store, citing(request), name), "history", format, name
    )
