"""``/targets/import`` (admins): targets from another tool's file, uploaded.

The file is read as ``watcher import`` reads it (``watcher.config.importers``: the
format told from the content, names made unique, each target validated by the
loader, a note for every setting with no equivalent). The page shows what would be
added; the admin picks, and the picked targets are appended to ``targets.yaml``
by ``watcher.config.edit`` in one validated edit (comments kept), which the
running service reloads.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from watcher.config import ConfigError
from watcher.config.edit import add_targets
from watcher.config.importers import FORMATS, Imported, import_text, read_upload, targets_yaml
from watcher.web.context import context_of
from watcher.web.identity import require
from watcher.web.pages import config_to_edit, error_page, render
from watcher.web.security import Guard

router = APIRouter(include_in_schema=False)

MAX_UPLOAD = 5_000_000  # bytes: thousands of watches; a bigger file is not a list of them
MAX_TARGETS_FIELD = 1_000_000  # the picked targets travel back as JSON in one form field
CHUNK = 64 * 1024


class UploadTooLarge(ValueError):
    pass


@router.get("/targets/import", response_class=HTMLResponse)
def import_page(request: Request, added: str = "") -> HTMLResponse:
    """Admins: the upload form (and what the last import added)."""
    require(request, "admin")
    names = [n for n in added.split(",") if n][:200]
    return _render(request, added=names)


@router.post("/targets/import", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    """Read the uploaded file and show the targets it would add, none written yet."""
    guard: Guard = request.app.state.guard
    require(request, "admin")
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > MAX_UPLOAD + CHUNK:  # refused before it is read
        return _refused(request, 413, _too_large())
    form = await request.form(max_files=1, max_fields=8, max_part_size=MAX_UPLOAD)
    csrf = form.get("csrf")
    guard.require_csrf(request, csrf if isinstance(csrf, str) else None)
    chosen = form.get("file")
    fmt = str(form.get("format") or "") or None
    if not isinstance(chosen, UploadFile) or not chosen.filename:
        return _refused(request, 400, "choose a file to import")
    filename = _label(chosen.filename)
    if fmt is not None and fmt not in FORMATS:
        return _refused(request, 400, f"no format {fmt!r}; one of {', '.join(FORMATS)}")
    try:
        data = await _read(chosen)
    except UploadTooLarge:
        return _refused(request, 413, _too_large(filename))
    return await run_in_threadpool(_preview, request, data, filename, fmt)


def _preview(request: Request, data: bytes, filename: str, fmt: str | None) -> HTMLResponse:
    """The file read against the config's targets (off the event loop: it parses)."""
    found = config_to_edit(request, "add to")
    if isinstance(found, Response):
        return found
    _, config = found
    try:
        imported = import_text(
            read_upload(data, filename),
            filename,
            fmt,
            taken=[t.name for t in config.targets],
            known_urls=[t.url for t in config.targets],
        )
    except ConfigError as exc:
        return _refused(request, 400, f"the file was not read: {exc}")
    return _render(request, imported=imported, filename=filename)


@router.post("/targets/import/add")
def add(
    request: Request,
    pick: Annotated[list[int], Form(default_factory=list)],
    targets: str = Form(""),
    filename: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """Append the picked targets (as the preview showed them) to ``targets.yaml``."""
    guard: Guard = request.app.state.guard
    guard.require_csrf(request, csrf)
    user = require(request, "admin")
    offered = _offered(targets)
    if offered is None:
        return _refused(request, 400, "the targets to add did not come back as a JSON list")
    chosen = [offered[i] for i in dict.fromkeys(pick) if 0 <= i < len(offered)]
    if not chosen:
        return _refused(request, 400, "no target was picked; nothing was added")
    context = context_of(request)
    if context.config_path is None:
        return error_page(request, 409, "this service has no config file to add to")
    try:
        add_targets(context.config_path, chosen)
    except ConfigError as exc:
        return _refused(request, 400, f"nothing was added: {exc}")
    names = [str(t["name"]) for t in chosen]
    guard.record(user, "targets import", _label(filename) or "upload", ", ".join(names))
    return RedirectResponse("/targets/import?" + urlencode({"added": ",".join(names)}), 303)


async def _read(upload: UploadFile) -> bytes:
    """The whole upload, or UploadTooLarge as soon as it is past the limit."""
    parts, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise UploadTooLarge
        parts.append(chunk)
    return b"".join(parts)


def _offered(given: str) -> list[dict[str, Any]] | None:
    if len(given) > MAX_TARGETS_FIELD:
        return None
    try:
        value = json.loads(given)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        return None
    return value


def _label(filename: str) -> str:
    """The upload's own file name, without any folders the browser sent."""
    return PurePath(filename.replace("\\", "/")).name[:120]


def _too_large(filename: str = "the file") -> str:
    return f"{filename} is larger than {MAX_UPLOAD // 1_000_000} MB: not a list of watches"


def _refused(request: Request, status_code: int, message: str) -> HTMLResponse:
    return _render(request, status_code=status_code, error=message)


def _render(
    request: Request,
    *,
    imported: Imported | None = None,
    filename: str = "",
    added: list[str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    # each target as its entry under ``targets:`` would read
    rows = [(t, targets_yaml([t]).partition("\n")[2]) for t in imported.targets] if imported else []
    return render(
        request,
        "targets_import.html",
        status_code,
        title="Import targets — watcher",
        formats=FORMATS,
        imported=imported,
        rows=rows,
        offered=json.dumps(imported.targets, ensure_ascii=False) if imported else "",
        filename=filename,
        added=added or [],
        error=error,
        max_mb=MAX_UPLOAD // 1_000_000,
    )
